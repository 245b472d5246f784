"""lstmkit: LSTM sequence modelling on PyTorch, with the equations explicit and a Keras-familiar API.

    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense
    model = Sequential([LSTM(50, input_shape=(5, 1)), Dense(1)])
"""

from lstmkit._version import __version__
from lstmkit.keras_import import load_keras
from lstmkit.models import Sequential, load_model

__all__ = ["Sequential", "load_model", "load_keras", "__version__"]


def __getattr__(name: str):
    from lstmkit import keras_names

    raise keras_names.missing(__name__, name, keras_names.PACKAGE_HINTS)

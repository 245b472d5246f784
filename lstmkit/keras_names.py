"""Keras names lstmkit does not implement, and what to use instead.

A tutorial ported by changing its imports reaches for these; each gets an error that says
lstmkit has no such thing and what does the job, rather than Python's bare "cannot import name".
"""

from __future__ import annotations

from collections.abc import Iterable


class NotInLstmkit(ImportError):
    """A Keras name lstmkit does not implement. An ImportError, so `from lstmkit.layers import Conv1D`
    shows this message (Python replaces an AttributeError's with its own)."""


LAYER_HINTS = {
    "CuDNNLSTM": "use LSTM: on a GPU it runs cuDNN's kernel already",
    "Input": "give the first layer input_shape=(timesteps, features)",
    "InputLayer": "give the first layer input_shape=(timesteps, features)",
    "Activation": "pass activation= to Dense (or to the recurrent layer)",
    "Flatten": "a recurrent layer without return_sequences already returns one vector per sequence",
    "Lambda": "a Sequential holds lstmkit layers only; drop down to PyTorch (every layer is a torch.nn.Module)",
    "LSTMCell": "lstmkit.ops.reference.lstm_step is the cell's step; LSTM runs it over a sequence",
    "GRUCell": "lstmkit.ops.reference.gru_step is the cell's step; GRU runs it over a sequence",
    "SimpleRNNCell": "lstmkit.ops.reference.simple_rnn_step is the cell's step; SimpleRNN runs it over a sequence",
    "RNN": "use LSTM, GRU or SimpleRNN directly",
}
for _name in ("Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "GlobalAveragePooling1D",
              "GlobalMaxPooling1D", "BatchNormalization", "LayerNormalization", "Reshape", "Concatenate",
              "Attention", "MultiHeadAttention", "ConvLSTM1D", "ConvLSTM2D", "LeakyReLU", "CuDNNGRU"):
    LAYER_HINTS.setdefault(_name, "")

PACKAGE_HINTS = {
    "Model": "lstmkit has Sequential models only (no functional API): lstmkit.Sequential([...])",
    "Input": "give the first layer input_shape=(timesteps, features)",
}


def missing(module: str, name: str, hints: dict[str, str], available: Iterable[str] = ()) -> NotInLstmkit:
    """The error for `module.name`: NotInLstmkit for a known Keras name, else a plain AttributeError."""
    if name not in hints:
        return AttributeError(f"module {module!r} has no attribute {name!r}")
    hint = hints[name] or f"{module} has: {', '.join(sorted(available))}"
    return NotInLstmkit(f"{module} has no {name}: lstmkit does not implement Keras's {name}; {hint}.")

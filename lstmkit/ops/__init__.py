"""The LSTM equations (reference.py) and the one seam that picks a kernel for them (dispatch.py)."""

from lstmkit.ops.dispatch import current_backend, lstm_forward, use_backend
from lstmkit.ops.reference import lstm_sequence, lstm_step, lstm_trace

__all__ = ["current_backend", "lstm_forward", "lstm_sequence", "lstm_step", "lstm_trace", "use_backend"]

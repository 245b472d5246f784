"""The recurrent cells' equations (reference.py) and the one seam that picks a kernel for them (dispatch.py)."""

from lstmkit.ops.dispatch import current_backend, gru_forward, lstm_forward, simple_rnn_forward, use_backend
from lstmkit.ops.reference import gru_step, lstm_sequence, lstm_step, lstm_trace, simple_rnn_step

__all__ = [
    "current_backend",
    "gru_forward",
    "gru_step",
    "lstm_forward",
    "lstm_sequence",
    "lstm_step",
    "lstm_trace",
    "simple_rnn_forward",
    "simple_rnn_step",
    "use_backend",
]

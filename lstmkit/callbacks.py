"""`from lstmkit.callbacks import EarlyStopping, ModelCheckpoint`: the callbacks of
lstmkit.training.callbacks, under the name DESIGN.md promises."""

from lstmkit.training.callbacks import Callback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "TerminateOnNaN"]

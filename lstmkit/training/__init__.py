"""Training: the one epoch loop, its engines, the engine choice, the optimizer state, callbacks,
checkpoints, data-parallel training and the epoch order.

    loop.py             the epoch loop (History, progress, callbacks, validation, divergence guard)
    torch_engine.py     zero_grad/forward/loss/backward/step a batch, alone or in DDP
    fused_engine.py     whole epochs in one compiled call (per-sample or batched kernels)
    engine_choice.py    which engine fits and which predicts: the table of cells and thresholds
    optimizer_state.py  the optimizer state's one owner and format (engines and checkpoints)
    batches.py          FitData and batch sources;  history.py  History and the progress bar
    callbacks.py  checkpoint.py  distributed.py  sampling.py  divergence.py

The names below are the ones other modules use; `lstmkit.callbacks` re-exports the callbacks.
"""

from lstmkit.training.batches import BatchSource, FitData, SourceBatches, take_rows
from lstmkit.training.history import History, ProgressBar
from lstmkit.training.loop import FitPlan, begin_callbacks, end_epoch, run_fit, run_plan
from lstmkit.training.torch_engine import evaluate_batches, forward_loss

__all__ = ["BatchSource", "FitData", "SourceBatches", "take_rows", "History", "ProgressBar", "FitPlan",
           "begin_callbacks", "end_epoch", "run_fit", "run_plan", "evaluate_batches", "forward_loss"]

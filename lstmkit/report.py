"""Written reports: a short markdown account of a forecast, its scores beside the baselines and
what was written. Reads results; never trains."""

from __future__ import annotations

import fnmatch
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from lstmkit.forecast.metrics import verdict
from lstmkit.forecast.lookbacks import choice_text
from lstmkit.forecast.relative import choice_text as relative_text
from lstmkit.forecast.network import CELLS, linear_text
from lstmkit.forecast.series import time_text
from lstmkit.forecast.tuning import tuning_text


def markdown_table(frame: Any, digits: int = 3) -> str:
    """A DataFrame as a GitHub markdown table (index as the first column, NaN as '-')."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.{digits}f}"
        return time_text(value)

    header = [str(frame.index.name or ""), *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, row in frame.iterrows():
        lines.append("| " + " | ".join([cell(name), *(cell(v) for v in row.tolist())]) + " |")
    return "\n".join(lines)


def forecast_report(forecaster: Any, forecast: Any, backtest: Any = None, source: str = "the data",
                    files: Sequence[str] = ()) -> str:
    """Markdown: the data and settings, scores beside the baselines with a plain verdict, the
    intervals, the forecast table and the files written.

    Args:
        forecaster: a fitted lstmkit.forecast.Forecaster.
        forecast: its `predict()` DataFrame.
        backtest: a BacktestResult, when one was run.
        source: how to name the data (a file name or dataset name).
        files: names of the files written beside the report.
    """
    config = forecaster.get_config()
    lines = [
        f"# Forecast of {source}",
        "",
        f"- Series: {len(forecaster.tails_)}; {forecaster.season_note_}.",
        f"- Model: {config['layers']} x {CELLS[config['cell']].__name__}({config['units']}) + Dense, strategy `{config['strategy']}`, "
        f"lookback {config['lookback']}, horizon {config['horizon']}, scaler `{config['scaler']}` fitted on the "
        f"training part of each series, "
        f"{'windows relative to their last value' if forecaster.relative_ else 'windows of levels'}.",
        f"- Training: Adam (learning rate {config['learning_rate']}), batch {config['batch_size']}, best epoch(s) "
        f"{forecaster.best_epochs_} of at most {config['epochs']}, early stopping on the latest "
        f"{config['validation_split']:.0%} of the windows (never trained on); ensemble of {forecaster.ensemble_note_}.",
    ]
    lines.append(f"- {forecaster.window_note_}")  # the seasonal profile and window scale, as summary() says
    if config["relative"] == "auto":
        lines.append(f"- {relative_text(forecaster.relative_choice_, len(forecaster.tails_))}")
    if getattr(forecaster, "calendar_", ()):
        lines.append(f"- {forecaster.calendar_note_}")
    if getattr(forecaster, "linear_", None) is not None:
        lines.append(f"- {linear_text(forecaster.steps, forecaster.linear_best_epoch_, forecaster.linear_errors_)}")
    if getattr(forecaster, "lookback_choice_", None):
        lines.append(f"- {choice_text(forecaster.lookback_choice_)}")
    if getattr(forecaster, "tuning_", None):
        lines.append(f"- {tuning_text(forecaster.tuning_)}")
    sections = []
    if backtest is not None:
        sections.append((f"Backtest: {len(backtest.origins)} origins from {time_text(backtest.origins[0])} to "
                         f"{time_text(backtest.origins[-1])}", backtest.metrics))
    if forecaster.validation_metrics_ is not None:
        sections.append(("Validation tail of the final fit", forecaster.validation_metrics_))
    if forecaster.comparison_metrics_ is not None:
        sections.append((f"Beside AutoETS, AutoARIMA and Theta at {forecaster.comparison_note_}",
                         forecaster.comparison_metrics_))
    for title, metrics in sections:
        lines += ["", f"## {title}", "", markdown_table(metrics), "", f"**{verdict(metrics)}**"]
    if forecaster.quantiles_:
        levels = ", ".join(f"{level}%" for level in forecaster.quantiles_)
        lines += ["", "## Intervals", "",
                  f"{levels} split-conformal intervals from the {forecaster.calibration_}: each horizon step gets "
                  f"the width that covered that share of past errors."]
        size = getattr(forecaster, "calibration_size_", None)
        coarse = [level for level in forecaster.quantiles_ if size and math.ceil((size + 1) * level / 100) > size]
        if coarse:
            lines += ["", f"With {size} residuals per step, the {', '.join(f'{level}%' for level in coarse)} "
                          f"interval{'s' if len(coarse) > 1 else ''} take the largest residual and are narrower than "
                          f"the level promises; a longer series or more backtest origins sharpen them."]
    lines += ["", "## Forecast", "", markdown_table(forecast)]
    if files:
        lines += ["", "## Files", "", *(f"- `{name}`" for name in files)]
    return "\n".join(lines) + "\n"


def write_folder(out: str | os.PathLike, writers: dict[str, Callable[[str], Any]],
                 owned: Sequence[str] = ()) -> list[str]:
    """Write every file of `writers` ({name: write(path)}) into a temporary folder beside `out`,
    then move them into `out` (renaming the folder when `out` does not exist yet). A failure
    leaves `out` as it was. Returns the names written.

    `owned`: name patterns (fnmatch) of every file the command can write, e.g. "gates_*.png";
    files of `out` that match one but were not written this time are left from an earlier run
    (a backtest.png before a run without --backtest) and are removed once the new files are in.
    """
    out = Path(out)
    parent = out.resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"--out {str(out)!r}: folder {str(parent)!r} does not exist; create it first.")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file; name a folder for the results.")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    try:
        for name, write in writers.items():
            write(str(staging / name))
        if not out.exists():
            umask = os.umask(0)
            os.umask(umask)
            staging.chmod(0o777 & ~umask)  # mkdtemp made it private; results are ordinary files
            os.rename(staging, out)
            return list(writers)
        for name in writers:
            os.replace(staging / name, out / name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for path in out.iterdir():
        if path.name not in writers and path.is_file() and any(fnmatch.fnmatchcase(path.name, p) for p in owned):
            path.unlink(missing_ok=True)
    return list(writers)


def classification_report(classifier: Any, evaluation: Any, train: str, test: str, files: Sequence[str] = ()) -> str:
    """Markdown: the data and settings of a fitted SequenceClassifier, its test scores beside the
    baselines with a plain verdict, the confusion matrix and the files written."""
    from lstmkit.classify.metrics import verdict as classification_verdict

    lines = [f"# Classification of {test}", "", f"Trained on `{train}`, scored on `{test}`.", "",
             *(f"- {line}" for line in classifier.summary().split("\n")[:4]), "",
             "## Test scores beside the baselines", "", markdown_table(evaluation.table),
             "", f"**{classification_verdict(evaluation.table)}**", *([""] + evaluation.notes if evaluation.notes else []),
             "", "## Confusion matrix (rows true class, columns predicted)", ""]
    labels = [str(c) for c in evaluation.classes]
    lines += ["| | " + " | ".join(labels) + " |", "|" + "---|" * (len(labels) + 1)]
    lines += [f"| {label} | " + " | ".join(str(v) for v in row) + " |"
              for label, row in zip(labels, evaluation.confusion_matrix.tolist())]
    if files:
        lines += ["", "## Files", "", *(f"- `{name}`" for name in files)]
    return "\n".join(lines) + "\n"

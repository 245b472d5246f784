"""The `lstmkit` command: parse, call the library, print.

User mistakes become one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import NoReturn, Sequence

from lstmkit.cli_classify import add_classify_parser, run_classify_command


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {value}")  # the wording of lstmkit.checks
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {value}")
    return value


def _whole_or_auto(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 or 'auto'; got {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0; got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lstmkit",
        description="LSTM sequence modelling on PyTorch: forecasting done right, a Keras-familiar API, fast.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    demo = commands.add_parser(
        "demo",
        help="the daily-temperature tutorial, done right (bundled data)",
        description=(
            "Train LSTM(50)+Dense(1) on 20 bundled daily temperatures: time-ordered 67/33 split, "
            "scaler fitted on the training days only, windows of 5 days, Adam, batch 1. Prints the "
            "model summary, the per-epoch log, and MAE/RMSE in degrees beside the naive forecast; "
            "writes the tutorial's plot."
        ),
    )
    demo.add_argument("--epochs", type=_non_negative_int, default=100, help="training epochs (default 100)")
    demo.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    demo.add_argument("--out", default="lstmkit_demo.png", help="PNG file to write (default lstmkit_demo.png)")
    demo.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    demo.add_argument("--quiet", action="store_true", help="no per-epoch log")
    _add_forecast_parser(commands)
    _add_inspect_parser(commands)
    _add_text_parser(commands)
    _add_export_parser(commands)
    add_classify_parser(commands, _positive_int, _non_negative_int)
    _add_bench_parser(commands)
    return parser


def _check_output_path(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--out {path!r}: folder {folder!r} does not exist; create it first.")
    if not path.lower().endswith(".png"):
        raise ValueError(f"--out {path!r} must name a .png file.")


def run_demo_command(args: argparse.Namespace) -> int:
    from lstmkit.demo import format_scores, run_demo

    if not args.no_plot:
        _check_output_path(args.out)  # before training, so a bad path costs nothing
    result = run_demo(epochs=args.epochs, seed=args.seed, verbose=0 if args.quiet else 2)
    print(format_scores(result))
    if not args.no_plot:
        from lstmkit.plot import demo_forecast, save_figure

        save_figure(demo_forecast(result), args.out)
        print(f"Wrote {args.out}")
    return 0


def _add_forecast_parser(commands: argparse._SubParsersAction) -> None:
    forecast = commands.add_parser(
        "forecast",
        help="forecast a series (or many) from a CSV/Parquet file or a bundled dataset",
        description=(
            "Fit an LSTM Forecaster (scaler fitted on the training part, early stopping on the latest windows, "
            "split-conformal intervals) and score it beside the naive, seasonal naive, drift and mean baselines. "
            "Writes forecast.csv, metrics.csv, forecast.png, model.lstmkit and report.md into --out (and "
            "backtest.csv, backtest.png with --backtest); files appear only when everything succeeded."
        ),
    )
    forecast.add_argument("data", nargs="?", help="CSV or Parquet file, one row per time (and series)")
    forecast.add_argument("--dataset", help="a bundled dataset instead of a file: temperatures, "
                          "airline_passengers, nile, lake_huron")
    forecast.add_argument("--time", help="time column (default: the first column)")
    forecast.add_argument("--target", help="column to forecast (default: the only other column)")
    forecast.add_argument("--id", help="series id column, for many series in long format (one global model)")
    forecast.add_argument("--horizon", type=_positive_int, help="steps to forecast (default: one season, else 10)")
    forecast.add_argument("--lookback", type=_whole_or_auto,
                          help="past steps the LSTM reads (default: 3 seasons or 2 horizons, as the data allow), "
                               "or auto: 1, 2 and 3 x max(season, horizon) each trained, the best on the validation "
                               "tail kept (about 3x the time)")
    forecast.add_argument("--time-budget", type=_seconds, metavar="SECONDS",
                          help="with --lookback auto: seconds for the candidates; those not begun once they are "
                               "spent are skipped")
    forecast.add_argument("--season", type=_positive_int,
                          help="observations per season for the baselines and MASE (default: from the time step)")
    forecast.add_argument("--strategy", choices=["direct", "recursive", "seq2seq"], default="direct",
                          help="multi-step strategy (default direct)")
    forecast.add_argument("--scaler", choices=["minmax", "standard", "none"], default="minmax",
                          help="per-series scaler, fitted on the training part (default minmax)")
    forecast.add_argument("--levels", default="80,95",
                          help="interval levels in percent, comma-separated, or 'none' (default 80,95)")
    forecast.add_argument("--epochs", type=_positive_int, default=200,
                          help="most epochs; early stopping ends sooner (default 200)")
    forecast.add_argument("--units", type=_positive_int, default=32, help="units of the recurrent layer (default 32)")
    forecast.add_argument("--cell", default="lstm", help="the recurrent layer: lstm, gru or simple_rnn (default lstm)")
    forecast.add_argument("--ensemble", type=_whole_or_auto, default="auto",
                          help="models trained with different seeds, median taken; auto (default): 3 where the "
                               "series' points times the lookback are at most 100,000, else 1")
    forecast.add_argument("--linear", action="store_true",
                          help="also train a linear model of the same windows and forecast the mean of the two "
                               "(Forecaster(linear=True); off by default, see the README's benchmark)")
    forecast.add_argument("--calendar", default="auto",
                          help="time-of-day/week/year features for cycles longer than the lookback: auto (those the "
                               "training part shows; default), none, or cycles, comma-separated: day,week,year")
    forecast.add_argument("--relative", choices=["auto", "on", "off"], default="auto",
                          help="windows relative to their last value (on) or levels (off); auto (default): a single "
                               "series is trained both ways and the better on the validation tail kept (about 2x "
                               "the time), many series (--id) take relative windows")
    forecast.add_argument("--missing", choices=["interpolate", "drop", "error"], default="interpolate",
                          help="what to do with gaps and NaNs (default interpolate, with a warning)")
    forecast.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    forecast.add_argument("--statistical", choices=["auto", "on", "off"], default="auto",
                          help="score AutoETS, AutoARIMA and Theta beside the model in metrics.csv (statsforecast, "
                               "pip install \"lstmkit[stats]\"): auto when installed (default), on, off")
    forecast.add_argument("--backtest", action="store_true",
                          help="also run a rolling-origin backtest (5 origins, one horizon apart) and take the "
                               "intervals from its residuals")
    forecast.add_argument("--tune", type=_positive_int, metavar="N",
                          help="search lookback, units, layers, dropout and learning rate over N trials with Optuna "
                               "(scored on the latest points, held out of training) and fit the best; the report "
                               "shows it beside the given settings' score (needs lstmkit[tune])")
    forecast.add_argument("--out", default="lstmkit_forecast", help="results folder (default lstmkit_forecast)")
    forecast.add_argument("--nproc", type=_positive_int, default=1,
                          help="train data-parallel on N processes of this machine, through torchrun (default 1)")
    forecast.add_argument("--quiet", action="store_true", help="print only the final line")


def _read_table(args: argparse.Namespace) -> tuple[object, str, dict[str, str | None]]:
    """The data to forecast, a name for it, and fit's column arguments."""
    import pandas as pd

    if (args.data is None) == (args.dataset is None):
        raise ValueError("give a data file or --dataset NAME (one of them).")
    if args.dataset is not None:
        from lstmkit.datasets import load_dataset

        if args.id or args.time or args.target:
            raise ValueError("--id, --time and --target name columns of a data file; --dataset needs none.")
        return load_dataset(args.dataset), args.dataset, {}
    suffix = os.path.splitext(args.data)[1].lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"{args.data!r}: unsupported file type {suffix!r}; pass a .csv or .parquet file.")
    if not os.path.isfile(args.data):
        raise FileNotFoundError(f"no data file at {args.data!r}.")
    table = _read_file(args.data, suffix)
    time = args.time or table.columns[0]
    others = [c for c in table.columns if c not in (time, args.id)]
    target = args.target or (others[0] if len(others) == 1 else None)
    if target is None:
        raise ValueError(f"{args.data!r} has columns {list(table.columns)}; pass --target to say which to forecast.")
    for option, column in (("--time", time), ("--target", target), ("--id", args.id)):
        if column is not None and column not in table.columns:
            raise ValueError(f"{option} {column!r} is not a column of {args.data!r}; its columns are "
                             f"{list(table.columns)}.")
    return table, os.path.basename(args.data), {"id_col": args.id, "time_col": time, "value_col": target}


def _read_file(path: str, suffix: str) -> object:
    import pandas as pd

    try:
        table = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path!r} is empty; it needs a header row and a row per time.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise ValueError(f"{path!r} cannot be read as {kind}: {str(err).strip().splitlines()[0]}.") from None
    if table.empty:
        raise ValueError(f"{path!r} has a header ({', '.join(map(str, table.columns))}) but no rows.")
    return table


def _check_lengths(series: Sequence[object], forecaster: object, args: argparse.Namespace) -> None:
    """The Forecaster's length checks, worded in the command's flags (the library's name arguments)."""
    lookback, horizon = forecaster.lookback, forecaster.horizon
    chosen = "" if args.lookback else " (chosen from the data; --lookback sets it)"
    fix = "a smaller --horizon" + (" or --lookback" if args.lookback else "") + ", or a longer series"
    longest = max(series, key=len)  # shorter series train on the windows they have
    if len(longest) < lookback + horizon:
        raise ValueError(f"{longest.label} has {len(longest)} points, but lookback {lookback}{chosen} and "
                         f"--horizon {horizon} need at least {lookback + horizon}. Pass {fix}.")
    needed = forecaster.min_length()
    if len(longest) < needed:
        raise ValueError(f"{longest.label} has {len(longest)} points, but lookback {lookback}{chosen} and "
                         f"--horizon {horizon} need at least {needed} to keep a validation tail (for early "
                         f"stopping and the intervals). Pass {fix}.")


def _folder_text(folder: str) -> str:
    """A folder as printed after 'Wrote ... to': one trailing separator, never two."""
    stripped = folder.rstrip("/" + os.sep)
    return (stripped or folder[:1]) + ("" if not stripped else os.sep)


def run_distributed(nproc: int, argv: Sequence[str]) -> int:
    """Run `lstmkit ARGV` on `nproc` processes under torchrun (one machine, a free port); every
    process trains its share, rank 0 prints and writes. Its stdout passes through; of stderr,
    lstmkit's own lines (once each), or everything when a process failed without one."""
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc))}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "lstmkit", *argv]
    process = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True)
    ours = [line for line in dict.fromkeys(process.stderr.splitlines()) if line.startswith("lstmkit:")]
    for line in ours:
        print(line, file=sys.stderr)
    if process.returncode and not ours:
        sys.stderr.write(process.stderr)
    return 2 if any(line.startswith("lstmkit: error:") for line in ours) else process.returncode


def _without_nproc(argv: Sequence[str]) -> list[str]:
    rest, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            rest.append(item)
    return rest


FORECAST_FILES = ("forecast.csv", "metrics.csv", "forecast.png", "backtest.csv", "backtest.png",
                  "model.lstmkit", "report.md")


def run_forecast_command(args: argparse.Namespace) -> int:
    import warnings

    from lstmkit.distributed import launched_rank, world_size_from_env

    if args.tune and args.nproc > 1:
        raise ValueError("--tune trains its trials one after another on one process; drop --nproc (or tune first, "
                         "then train the chosen settings with --nproc).")
    if args.nproc > 1 and world_size_from_env() == 1:
        return run_distributed(args.nproc, _without_nproc(args.argv))
    main_process = launched_rank() == 0
    if not main_process:
        args.quiet = True

    from lstmkit import plot
    from lstmkit.forecast import Forecaster, infer_season, suggest_lookback
    from lstmkit.forecast.intervals import check_levels
    from lstmkit.forecast.network import check_cell
    from lstmkit.forecast.series import UnsortedSeriesError, read_series
    from lstmkit.report import forecast_report, write_folder

    try:
        levels = () if args.levels.lower() == "none" else check_levels([float(v) for v in args.levels.split(",")])
    except ValueError:
        raise ValueError(f"--levels {args.levels!r}: give whole percents like 80,95, or 'none'.") from None
    check_cell(args.cell)  # before the data is read
    if args.time_budget is not None and args.lookback != "auto":
        raise ValueError("--time-budget bounds the candidates of --lookback auto; pass --lookback auto, or leave "
                         "--time-budget out.")
    data, source, columns = _read_table(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            series, _, _ = read_series(data, **columns, missing=args.missing)
        except UnsortedSeriesError as err:
            if args.data is None:
                raise
            raise ValueError(f"{args.data!r} is not sorted by time: {err.label} has {err.earlier} before "
                             f"{err.later}. Sort the file's rows by the time column"
                             f"{' within each --id series' if args.id else ''}, then run again.") from None
        season, _ = infer_season(series[0].index, args.season)
        horizon = args.horizon or (season if season > 1 else 10)
        lookback = args.lookback or suggest_lookback(sorted(len(s) for s in series)[len(series) // 2], horizon, season)
        forecaster = Forecaster(lookback, horizon, time_budget=args.time_budget, units=args.units, cell=args.cell,
                                epochs=args.epochs,
                                scaler=args.scaler, strategy=args.strategy, season=args.season, levels=levels,
                                ensemble=args.ensemble, linear=args.linear, missing=args.missing, seed=args.seed,
                                relative={"auto": "auto", "on": True, "off": False}[args.relative],
                                calendar=args.calendar if args.calendar in ("auto", "none") else
                                [name.strip() for name in args.calendar.split(",") if name.strip()],
                                statistical={"auto": None, "on": True, "off": False}[args.statistical])
        _check_lengths(series, forecaster, args)
        if args.tune:
            forecaster.tune(data, n_trials=args.tune, **columns, verbose=0 if args.quiet else 1)
        else:
            forecaster.fit(data, **columns, verbose=0 if args.quiet else 1)
        result = None
        if args.backtest:
            result = forecaster.backtest(data, **columns)
            backtest_rows = result.forecasts[result.forecasts["model"] == "lstm"]
            if levels and (backtest_rows["step"] == 1).sum() > getattr(forecaster, "calibration_size_", 0):
                forecaster.calibrate(result)  # only when the backtest has more residuals per step
            if not args.quiet:
                print(result.summary())
        forecast = forecaster.predict()
    if not main_process:
        return 0  # rank 0 writes the results
    name = columns.get("value_col") or getattr(data, "name", None) or "value"
    histories = {s.id: _history_series(s, name) for s in series}
    metrics = result.metrics if result is not None else forecaster.validation_metrics_
    if result is None and forecaster.comparison_metrics_ is not None:
        metrics = forecaster.comparison_metrics_  # the statistical models too, on the same origins
    writers = {"forecast.csv": lambda path: forecast.to_csv(path, index_label=forecast.index.name or "time")}
    if metrics is not None:
        writers["metrics.csv"] = lambda path: metrics.to_csv(path)
    writers["forecast.png"] = lambda path: plot.save_figure(
        plot.forecast_grid(histories, forecast, last=max(4 * horizon, 3 * forecaster.lookback))[0], path)
    if result is not None:
        writers["backtest.csv"] = lambda path: result.forecasts.to_csv(path, index=False)
        writers["backtest.png"] = lambda path: plot.save_figure(plot.backtest_plot(result, value_name=name), path)
    writers["model.lstmkit"] = forecaster.save
    names = [*writers, "report.md"]
    report = forecast_report(forecaster, forecast, result, source=source, files=names)
    writers["report.md"] = lambda path: _write_text(path, report)
    write_folder(args.out, writers, owned=FORECAST_FILES)
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"lstmkit: warning: {message}", file=sys.stderr)
    print(f"Wrote {', '.join(names)} to {_folder_text(args.out)}")
    return 0


def _history_series(item: object, name: str) -> object:
    """A SeriesData as a pandas Series (for plotting its history)."""
    import pandas as pd

    return pd.Series(item.values, index=item.index, name=name)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _add_inspect_parser(commands: argparse._SubParsersAction) -> None:
    inspect = commands.add_parser(
        "inspect",
        help="draw a model's gates and memory (LSTM, GRU, SimpleRNN) over an input sequence",
        description=(
            "Trace every recurrent layer of a saved model on an input sequence (the reference equations, on "
            "each layer's actual input) and write one PNG per layer: the input, then heatmaps over time of "
            "an LSTM's input, forget and output gates, candidate, cell state and hidden state (a GRU's update "
            "and reset gates, candidate and hidden state; a SimpleRNN's state). "
            "For a model file, --input is fed as it is: scale it as the model's training data was. A "
            "Forecaster file (as `lstmkit forecast` writes) is traced on its own last window, scaled as "
            "its predict() feeds it."
        ),
    )
    inspect.add_argument("model", help="a model file written by model.save(), a Forecaster's (lstmkit forecast) "
                                       "or a SequenceClassifier's")
    inspect.add_argument("--input",
                         help=".npy array (timesteps[, features]) or (samples, timesteps, features), or a .csv "
                              "file with a row per time step (a first non-numeric column is taken as times); "
                              "needed for a model file, not for a Forecaster's")
    inspect.add_argument("--series", help="for a Forecaster of many series: which series id (default: the only one)")
    inspect.add_argument("--out", default="lstmkit_gates", help="folder for the PNGs (default lstmkit_gates)")
    inspect.add_argument("--sample", type=_non_negative_int, default=0, help="which sample to draw (default 0)")


def _forecaster_and_series(path: str, series: str | None) -> tuple[object, object]:
    """A Forecaster file's forecaster and the id that --series names (ids read from a CSV may be numbers)."""
    from lstmkit.forecast import Forecaster

    forecaster = Forecaster.load(path)
    if series is None:
        return forecaster, None
    return forecaster, next((tail.id for tail in forecaster.tails_ if str(tail.id) == series), series)


def _inspected_input(args: argparse.Namespace) -> tuple[object, object, object]:
    """(model, x, times) for `lstmkit inspect`: a model file with --input, or a Forecaster file."""
    from lstmkit.forecast import Forecaster
    from lstmkit.models import load_model
    from lstmkit.saving import open_model_file
    from lstmkit.sequences import read_sequence_file

    kind = open_model_file(args.model).config.get("kind")
    if kind == "SequenceClassifier":  # traced on --input, read as its predict() reads it
        from lstmkit.classify import SequenceClassifier

        if args.input is None or args.series is not None:
            raise ValueError(f"{args.model!r} is a SequenceClassifier file: pass --input FILE (no --series).")
        classifier = SequenceClassifier.load(args.model)
        x, times = read_sequence_file(args.input)
        return classifier, x, times if classifier.averaging_ == 1 else None
    if kind != "Forecaster":
        if args.input is None:
            raise ValueError(f"{args.model!r} is a model file: pass --input FILE with the sequence to trace.")
        if args.series is not None:
            raise ValueError("--series picks a series of a Forecaster file; a model file has none.")
        x, times = read_sequence_file(args.input)
        return load_model(args.model), x, times
    if args.input is not None:
        raise ValueError(f"{args.model!r} is a Forecaster file, traced on its own last window; drop --input.")
    forecaster, series_id = _forecaster_and_series(args.model, args.series)
    x, times = forecaster.network_input(series_id)
    return forecaster.members_[0], x, times


def run_inspect_command(args: argparse.Namespace) -> int:
    from lstmkit import plot
    from lstmkit.report import write_folder

    model, x, times = _inspected_input(args)
    if args.sample >= len(x):
        raise ValueError(f"--sample {args.sample}: {args.input!r} holds {len(x)} sample(s).")
    trace = model.trace(x)
    if not trace:
        raise ValueError(f"{args.model!r} has no recurrent layer (LSTM, GRU, SimpleRNN) to inspect.")
    writers = {}
    for index, entry in enumerate(trace):
        axes = plot.gates(trace, layer=index, sample=args.sample, times=times)
        name = "gates_" + entry.name.replace("/", "_") + ".png"
        writers[name] = lambda path, figure=axes[0].figure: figure.savefig(path, dpi=110, format="png")
    write_folder(args.out, writers, owned=["gates_*.png"])
    print(f"Wrote {', '.join(writers)} to {_folder_text(args.out)}")
    return 0


def _add_text_parser(commands: argparse._SubParsersAction) -> None:
    text = commands.add_parser("text", help="train a character-level text generator, or write text with one")
    actions = text.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    train = actions.add_parser(
        "train", help="train a TextGenerator on a UTF-8 text file",
        description="Train Embedding(64) -> LSTM(units) -> softmax on windows of a text file (read in chunks, "
                    "so it may be larger than memory), with a progress bar and Keras's epoch lines; write the model.")
    train.add_argument("file", metavar="FILE", help="a UTF-8 text file")
    train.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.lstmkit)")
    train.add_argument("--epochs", type=_positive_int, default=10, help="training epochs (default 10)")
    train.add_argument("--units", type=_positive_int, default=256, help="LSTM units (default 256)")
    train.add_argument("--sequence-length", type=_positive_int, default=100, help="steps per window (default 100)")
    train.add_argument("--batch-size", type=_positive_int, default=64, help="windows per step (default 64)")
    train.add_argument("--tokenizer", choices=["char", "word"], default="char", help="tokens (default char)")
    train.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    generate = actions.add_parser("generate", help="continue a prompt with a trained TextGenerator")
    generate.add_argument("model", metavar="MODEL", help="a model written by `lstmkit text train`")
    generate.add_argument("--prompt", required=True, help="the text to continue")
    generate.add_argument("--length", type=_positive_int, default=400, help="tokens to write (default 400)")
    generate.add_argument("--temperature", type=float, default=1.0, help="< 1 safer, > 1 bolder (default 1.0)")
    generate.add_argument("--top-k", type=_positive_int, help="sample among the k likeliest tokens only")
    generate.add_argument("--seed", type=_non_negative_int, help="random seed: the same seed writes the same text")


def run_text_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lstmkit.text import TextGenerator

    if args.action == "generate":
        generator = TextGenerator.load(args.model)
        print(args.prompt + generator.generate(args.prompt, args.length, args.temperature, args.top_k, args.seed))
        return 0
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--out {args.out!r}: folder {folder!r} does not exist; create it first.")
    generator = TextGenerator(args.tokenizer, units=args.units, sequence_length=args.sequence_length)
    history = generator.fit(Path(args.file), epochs=args.epochs, batch_size=args.batch_size, verbose=1, seed=args.seed)
    generator.save(args.out)
    print(f"Wrote {args.out}: {generator.tokenizer.vocab_size} tokens, final loss {history.history['loss'][-1]:.4f}")
    return 0


def _add_export_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="write a saved model or Forecaster as ONNX, for ONNX Runtime",
        description=(
            "Write a model file (model.save) or a Forecaster file (lstmkit forecast) as an ONNX graph. A model's "
            "graph takes x (batch, timesteps, features) and gives what predict gives; a Forecaster's takes the raw "
            "last values (batch, context, features), context the lookback or the seasonal profile's four "
            "seasons (the forecaster's context_), and gives the forecast (batch, horizon) in the "
            "series' units. Needs the onnx extra: pip install \"lstmkit[onnx]\"."
        ),
    )
    export.add_argument("model", help="a model file written by model.save(), or a Forecaster's")
    export.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    export.add_argument("--fixed-length", action="store_true",
                        help="accept only the model's own number of timesteps (default: any)")
    export.add_argument("--lengths", action="store_true",
                        help="add a second input 'lengths' (batch,) int64 for padded batches (model files)")
    export.add_argument("--series", help="for a Forecaster of many series: whose scalers the graph holds")


def run_export_command(args: argparse.Namespace) -> int:
    from lstmkit.models import load_model
    from lstmkit.saving import read_model_file

    folder = os.path.dirname(os.path.abspath(args.onnx))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--onnx {args.onnx!r}: folder {folder!r} does not exist; create it first.")
    config, _ = read_model_file(args.model)
    if config.get("kind") == "Forecaster":
        if args.lengths or args.fixed_length:
            raise ValueError("--lengths and --fixed-length apply to model files; a Forecaster's graph takes "
                             "windows of its lookback.")
        forecaster, series_id = _forecaster_and_series(args.model, args.series)
        forecaster.export_onnx(args.onnx, series_id=series_id)
    else:
        if args.series is not None:
            raise ValueError("--series picks a series of a Forecaster file; a model file has none.")
        load_model(args.model).export_onnx(args.onnx, dynamic_length=not args.fixed_length, lengths=args.lengths)
    from lstmkit.onnx_export import OPSET

    print(f"Wrote {args.onnx} (ONNX opset {OPSET})")
    return 0


def _add_bench_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench",
        help="time training and prediction against idiomatic PyTorch (and Keras, if given)",
        description=(
            "Run the speed workloads W1 (tutorial fit and one-window predict), W2 (20,000-point "
            "series), W3 (large training step, forward) and W4 (character model, one epoch) through "
            "lstmkit and idiomatic PyTorch, interleaved, and print median (min-max) and paired ratios. Keras is never a "
            "dependency: pass --keras-python to a Python that has TensorFlow to include it."
        ),
    )
    bench.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not comparable numbers")
    bench.add_argument("--rounds", type=_positive_int, default=3, help="rounds per framework (default 3)")
    bench.add_argument("--json", help="also write every sample to this JSON file")
    bench.add_argument("--keras-python", help="a Python interpreter with TensorFlow/Keras installed")
    bench.add_argument(
        "--contended", action="store_true",
        help="keep another core busy meanwhile and compare with lstmkit pinned to one thread",
    )


def run_bench_command(args: argparse.Namespace) -> int:
    from lstmkit.bench import main_bench

    if args.keras_python and not os.access(args.keras_python, os.X_OK):
        raise FileNotFoundError(f"--keras-python {args.keras_python!r} is not an executable file.")
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"--json {args.json!r}: folder {folder!r} does not exist; create it first.")
    main_bench(args.quick, args.rounds, args.json, args.keras_python, args.contended)
    return 0


COMMANDS = {
    "demo": run_demo_command,
    "forecast": run_forecast_command,
    "inspect": run_inspect_command,
    "text": run_text_command,
    "export": run_export_command,
    "bench": run_bench_command,
    "classify": run_classify_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # Ctrl-C: results are written only at the end, so nothing is half-written
        print("lstmkit: interrupted; no results were written.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError, ImportError) as err:
        from lstmkit.distributed import launched_rank

        if launched_rank() == 0:  # under torchrun, one process says it
            print(f"lstmkit: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

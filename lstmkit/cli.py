"""The `lstmkit` command: parse, call the library, print.

User mistakes become one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn, Sequence


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
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


COMMANDS = {"demo": run_demo_command}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        print(f"lstmkit: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

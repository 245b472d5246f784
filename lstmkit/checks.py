"""The argument checks of the whole package, with one wording. Each names the argument, says
what was expected and shows what it got:

    `units` must be an integer >= 1; got 0.
    `dropout` must be a fraction in [0, 1); got 1.5.
    `learning_rate` must be a positive number; got -0.1.
    `factor` must be a number in (0, 1); got 2.
    unknown loss 'mse2'; did you mean 'mse'? expected one of 'mae', 'mse', ...

A value of the wrong type raises ArgumentTypeError (both a TypeError and a ValueError); one out
of range, or an unknown name, raises ValueError. This module sits below every other one: it
imports only the standard library.
"""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Iterable, NoReturn


SHOWN_NAMES = 20  # an unknown name's message lists at most this many of the known ones


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a TypeError, and a ValueError too, so that code catching
    ValueError for any bad argument (the command line, a caller's `try`) catches it as well."""


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _then(hint: str) -> str:
    return f" {hint}" if hint else ""


def _refuse(error: type[Exception], name: str, expected: str, value: Any, optional: bool, hint: str) -> NoReturn:
    alternative = " or None" if optional else ""
    raise error(f"`{name}` must be {expected}{alternative}; got {value!r}.{_then(hint)}")


def positive_int(value: Any, name: str, minimum: int = 1, *, optional: bool = False, hint: str = "") -> Any:
    """`value` as an int, refused unless it is an integer >= `minimum` (bools are refused).

    Args:
        value: what the caller passed (a Python or numpy integer).
        name: the argument's name, for the message.
        minimum: the smallest value allowed (0 for counts that may be zero).
        optional: None is allowed too (and returned).
        hint: a sentence added to the message, e.g. how to choose the value.

    Example:
        positive_int(0, "units") raises ValueError("`units` must be an integer >= 1; got 0.").
    """
    if value is None and optional:
        return None
    if not _is_integer(value):
        _refuse(ArgumentTypeError, name, f"an integer >= {minimum}", value, optional, hint)
    if value < minimum:
        _refuse(ValueError, name, f"an integer >= {minimum}", value, optional, hint)
    return int(value)


def number(value: Any, name: str, minimum: float = 0.0, maximum: float = math.inf, *, above_minimum: bool = False,
           below_maximum: bool = True, optional: bool = False, hint: str = "") -> Any:
    """`value` as a float, refused unless it is a finite number in [minimum, maximum) (the ends
    open or closed as `above_minimum` and `below_maximum` say); None too when `optional`.

    Example:
        number(2, "factor", 0, 1, above_minimum=True) raises
        ValueError("`factor` must be a number in (0, 1); got 2.").
    """
    if value is None and optional:
        return None
    if maximum == math.inf and minimum == 0:
        expected = "a positive number" if above_minimum else "a number >= 0"
    else:
        kind = "a fraction" if (minimum, maximum, above_minimum, below_maximum) == (0, 1, False, True) else "a number"
        expected = f"{kind} in {'(' if above_minimum else '['}{minimum:g}, {maximum:g}{')' if below_maximum else ']'}"
    if not _is_number(value):
        _refuse(ArgumentTypeError, name, expected, value, optional, hint)
    low_fine = value > minimum if above_minimum else value >= minimum
    high_fine = value < maximum if below_maximum else value <= maximum
    if not (math.isfinite(value) and low_fine and high_fine):
        _refuse(ValueError, name, expected, value, optional, hint)
    return float(value)


def fraction(value: Any, name: str, *, hint: str = "") -> float:
    """`value` as a float, refused unless it is a number in [0, 1) (a rate, a share held out)."""
    return number(value, name, 0.0, 1.0, hint=hint)


def positive_number(value: Any, name: str, *, optional: bool = False, hint: str = "") -> Any:
    """`value` as a float, refused unless it is a finite number > 0 (None too when `optional`)."""
    return number(value, name, above_minimum=True, optional=optional, hint=hint)


def unknown_name(kind: str, name: Any, known: Iterable[Any], hint: str = "") -> str:
    """The message for a name that is not one of `known`, with the close matches first.

    Example:
        unknown_name("cell", "lstn", ["lstm", "gru"]) is
        "unknown cell 'lstn'; did you mean 'lstm'? expected one of 'gru', 'lstm'."
    """
    names = sorted(known, key=str)
    lowered = {str(n).lower(): n for n in names}  # "Adam" finds "adam"
    close = [lowered[c] for c in difflib.get_close_matches(str(name).lower(), list(lowered), n=3, cutoff=0.5)]
    close_text = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ";"
    expected = ", ".join(repr(n) for n in names[:SHOWN_NAMES])
    if len(names) > SHOWN_NAMES:
        expected += f", ... ({len(names)} in all)"
    return f"unknown {kind} {name!r}{close_text} expected one of {expected}.{_then(hint)}"


def choice(value: Any, name: str, choices: Iterable[Any], kind: str | None = None, hint: str = "") -> Any:
    """`value` if it is one of `choices`; else an error with the close matches.

    Args:
        value: what the caller passed.
        name: the argument's name (a string is expected; anything else is an ArgumentTypeError).
        choices: the allowed names.
        kind: what the names are, for the message ("loss", "dataset"); `name` by default.
        hint: a sentence added to the message (another way to give the value).
    """
    choices = list(choices)
    if not isinstance(value, str) and all(isinstance(c, str) for c in choices):
        raise ArgumentTypeError(f"`{name}` must be a name, one of {', '.join(repr(c) for c in sorted(choices))}; "
                                f"got {type(value).__name__} {value!r}.{_then(hint)}")
    if value not in choices:
        raise ValueError(unknown_name(kind or name, value, choices, hint))
    return value

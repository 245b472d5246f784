"""The argument checks (lstmkit/checks.py): what each accepts and returns, and its one wording."""

import numpy as np
import pytest

from lstmkit import checks
from lstmkit.checks import ArgumentTypeError, choice, fraction, number, positive_int, positive_number, unknown_name


def test_positive_int_returns_a_python_int_and_refuses_with_the_name_and_the_value():
    assert positive_int(np.int64(3), "units") == 3 and type(positive_int(np.int64(3), "units")) is int
    assert positive_int(0, "seed", minimum=0) == 0
    assert positive_int(None, "top_k", optional=True) is None
    with pytest.raises(ValueError, match=r"^`units` must be an integer >= 1; got 0\.$"):
        positive_int(0, "units")
    with pytest.raises(ValueError, match=r"^`refit` must be an integer >= 0; got -1\. 0 fits once\.$"):
        positive_int(-1, "refit", minimum=0, hint="0 fits once.")
    with pytest.raises(ValueError, match=r"^`top_k` must be an integer >= 1 or None; got 0\.$"):
        positive_int(0, "top_k", optional=True)
    for wrong in (2.5, True, "3", None):
        with pytest.raises(ArgumentTypeError, match=rf"`units` must be an integer >= 1; got {wrong!r}"):
            positive_int(wrong, "units")


def test_a_wrong_type_is_a_type_error_and_a_value_error():
    with pytest.raises(TypeError):
        positive_int(2.5, "units")
    with pytest.raises(ValueError):
        positive_int(2.5, "units")
    with pytest.raises(TypeError):
        choice(3, "cell", ["lstm"])


def test_numbers_in_ranges_with_their_wording():
    assert fraction(np.float32(0.25), "dropout") == 0.25 and type(fraction(0, "dropout")) is float
    assert positive_number(3, "learning_rate") == 3.0
    assert positive_number(None, "timeout", optional=True) is None
    assert number(1, "p", 0, 1, below_maximum=False) == 1.0
    refused = [
        (lambda: fraction(1.0, "rate"), r"`rate` must be a fraction in \[0, 1\); got 1\.0\."),
        (lambda: fraction(-0.1, "dropout"), r"`dropout` must be a fraction in \[0, 1\); got -0\.1\."),
        (lambda: positive_number(0, "learning_rate"), r"`learning_rate` must be a positive number; got 0\."),
        (lambda: positive_number(float("inf"), "clipnorm"), r"`clipnorm` must be a positive number; got inf\."),
        (lambda: number(-1, "min_lr"), r"`min_lr` must be a number >= 0; got -1\."),
        (lambda: number(2, "factor", 0, 1, above_minimum=True), r"`factor` must be a number in \(0, 1\); got 2\."),
        (lambda: number(0, "factor", 0, 1, above_minimum=True), r"`factor` must be a number in \(0, 1\); got 0\."),
        (lambda: number(1.5, "p", 0, 1, below_maximum=False), r"`p` must be a number in \[0, 1\]; got 1\.5\."),
        (lambda: number(float("nan"), "beta_1", maximum=1.0), r"`beta_1` must be a fraction in \[0, 1\); got nan\."),
    ]
    for call, message in refused:
        with pytest.raises(ValueError, match=f"^{message}$"):
            call()
    with pytest.raises(ArgumentTypeError, match=r"`rate` must be a fraction in \[0, 1\); got '0\.5'"):
        fraction("0.5", "rate")


def test_unknown_names_get_the_close_matches_then_every_name():
    assert unknown_name("cell", "lstn", ["lstm", "gru"]) == (
        "unknown cell 'lstn'; did you mean 'lstm'? expected one of 'gru', 'lstm'.")
    assert unknown_name("cell", "xyz", ["lstm", "gru"]) == "unknown cell 'xyz'; expected one of 'gru', 'lstm'."
    assert unknown_name("optimizer", "Adamw", ["sgd", "adam", "adamw"], hint="Or pass an Optimizer.") == (
        "unknown optimizer 'Adamw'; did you mean 'adamw' or 'adam'? expected one of 'adam', 'adamw', 'sgd'. "
        "Or pass an Optimizer.")
    many = [f"s{i:02d}" for i in range(49)] + ["north"]  # sorted: 'north' first, then s00, s01, ...
    message = unknown_name("series id", "nort", many)
    assert message.startswith("unknown series id 'nort'; did you mean 'north'? expected one of 'north', 's00', ")
    assert message.endswith(f"'s{checks.SHOWN_NAMES - 2:02d}', ... (50 in all).")


def test_choice_returns_the_value_or_refuses_it():
    assert choice("gru", "cell", {"lstm": 1, "gru": 2}) == "gru"
    assert choice(0, "verbose", (0, 1, 2)) == 0
    with pytest.raises(ValueError, match=r"^unknown LSTM backend 'cudnn'; expected one of 'auto', 'torch'\.$"):
        choice("cudnn", "backend", ("auto", "torch"), kind="LSTM backend")
    with pytest.raises(ArgumentTypeError, match=r"^`cell` must be a name, one of 'gru', 'lstm'; got int 3\.$"):
        choice(3, "cell", ("lstm", "gru"))

"""Each ported tutorial program runs and gets the tutorial's answer."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")


def test_next_number_predicts_what_the_readme_says():
    main = load("next_number")["main"]
    assert round(main(), 3) == 11.004  # the README quotes both numbers
    assert round(main(epochs=100, units=128, activation="tanh", learning_rate=0.001), 3) == 9.544


def test_sequence_classifier_is_accurate():
    accuracy = load("classify_sequences")["main"]()
    assert accuracy >= 0.9


def test_temperature_forecast_scores_in_degrees(tmp_path):
    scores = load("temperature_forecast")["main"](plot_path=str(tmp_path / "t.png"))
    assert scores["naive_mae"] == pytest.approx(6.5 / 7, abs=1e-5)
    assert 0 < scores["lstm_mae"] < 5  # degrees, not scaled units
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_torchrun_example_trains_and_resumes(tmp_path):
    checkpoint = str(tmp_path / "ckpt.lstmkit")
    example = load("train_torchrun")["main"]
    scores = example(epochs=2, checkpoint=checkpoint)
    assert scores["lstm_mae"] < scores["naive_mae"]  # the cycle is learnable; last value lags it
    resumed = example(epochs=3, checkpoint=checkpoint, resume=True)
    assert resumed["lstm_mae"] != scores["lstm_mae"]  # a third epoch trained from the checkpoint

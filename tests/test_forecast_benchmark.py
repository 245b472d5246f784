"""benchmarks/forecast_accuracy.py --quick: the development benchmark's protocol, end to end."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "forecast_accuracy.py"


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("forecast_accuracy", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_prints_every_model_and_the_ranks(accuracy, capsys):
    assert accuracy.main(["--quick"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    rows = {line.split()[0]: line for line in lines if line.startswith(("lynx ", "woolyrnq ", "m1_yearly "))}
    assert set(rows) == {"lynx", "woolyrnq", "m1_yearly"}
    assert "yearly h=6 m=1 L=12 n=8" in rows["m1_yearly"]
    cells = [float(v) for v in rows["lynx"].split("|")[1].split()]
    assert len(cells) == 5 and all(value > 0 for value in cells)
    assert "Median MASE rank over the data sets (1 best of 5): lstm " in printed
    assert "lstm vs auto_arima: lower MASE on" in printed
    relative = next(line for line in lines if line.startswith("Geometric mean over the data sets of MASE relative"))
    ratios = dict(part.rsplit(" ", 1) for part in relative.split(": ", 1)[1].split(", "))
    mases = {name: [float(v) for v in row.split("|")[1].split()] for name, row in rows.items()}  # lstm snaive ets ...
    for k, model in enumerate(["lstm", None, "auto_ets", "auto_arima", "theta"]):
        if model is not None:
            expected = np.exp(np.mean([np.log(m[k] / m[1]) for m in mases.values()]))
            assert float(ratios[model]) == pytest.approx(expected, abs=2e-3)  # from the rounded table


def test_every_data_set_ships_with_its_series(accuracy):
    from forecast_data import DATASETS

    assert len(DATASETS) >= 12
    assert {spec.frequency for spec in DATASETS.values()} >= {"yearly", "quarterly", "monthly", "weekly", "daily",
                                                              "hourly"}
    m1 = DATASETS["m1_yearly (181)"].load()
    lengths = m1.groupby("id").size()
    assert len(lengths) == 181 and lengths.min() == 15 and lengths.max() == 58
    taylor = DATASETS["taylor"].load()
    assert len(taylor) == 4032 and taylor.index.freqstr == "30min" and taylor.iloc[0] == 22262

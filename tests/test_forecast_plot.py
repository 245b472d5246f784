"""Forecast figures: they draw what they are given and return the Axes; nothing is shown."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from lstmkit import plot
from lstmkit.forecast import Forecaster


@pytest.fixture(scope="module")
def fitted():
    t = np.arange(72)
    series = pd.Series(50 + 10 * np.sin(2 * np.pi * t / 12), index=pd.period_range("2015-01", periods=72, freq="M"),
                       name="visitors")
    fc = Forecaster(12, 4, units=4, epochs=3, levels=(80, 95)).fit(series)
    return series, fc


def test_forecast_plot_draws_history_forecast_and_one_band_per_level(fitted):
    series, fc = fitted
    forecast = fc.predict()
    ax = plot.forecast_plot(series, forecast, last=24)
    history, forecast_line = ax.lines[0], ax.lines[1]
    assert len(history.get_xdata()) == 24 and len(forecast_line.get_ydata()) == 4
    np.testing.assert_allclose(forecast_line.get_ydata(), forecast["forecast"])
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["history", "95% interval", "80% interval",
                                                                    "forecast"]
    assert ax.get_title() == "visitors: forecast of the next 4 steps"


def test_backtest_plot_marks_every_origin(fitted):
    series, fc = fitted
    result = fc.backtest(series, start=-12, stride=4)
    ax = plot.backtest_plot(result, value_name="sales")
    assert len([line for line in ax.lines if line.get_linestyle() == ":"]) == 3  # one dotted line per origin
    assert ax.get_ylabel() == "sales" and plot.backtest_plot(result).get_ylabel() == "value"
    assert ax.get_title().startswith("Backtest, 3 origins: lstm MASE")


def test_training_curves_one_pair_per_model_and_the_kept_epoch(fitted):
    _, fc = fitted
    ax = plot.training_curves(fc)
    labels = [line.get_label() for line in ax.lines]
    assert len(fc.histories_) == 3  # ensemble="auto" on 72 points: three models, a pair of curves and a kept epoch each
    assert labels[:2] == ["loss (model 1)", "val_loss (model 1)"] and labels[4] == "val_loss (model 2)"
    assert [len(ax.lines[3 * k].get_xdata()) for k in range(3)] == [len(h.epoch) for h in fc.histories_]
    assert [ax.lines[3 * k + 2].get_xdata()[0] for k in range(3)] == fc.best_epochs_
    single = plot.training_curves(fc.histories_[0])
    assert [line.get_label() for line in single.lines] == ["loss", "val_loss"]
    assert ax.lines[2].get_xdata()[0] == fc.best_epochs_[0]  # the dotted line at the epoch kept
    assert ax.get_yscale() == "log"


def test_forecast_grid_one_row_per_series(fitted):
    series, fc = fitted
    axes = plot.forecast_grid({"a": series, "b": series * 2}, fc.predict())
    assert len(axes) == 2 and axes[0].figure is axes[1].figure


def test_import_lstmkit_loads_neither_pandas_nor_matplotlib():
    code = "import sys, lstmkit; print('pandas' in sys.modules, 'matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_forecaster_plot_method_draws_its_own_forecast(fitted):
    series, fc = fitted
    ax = fc.plot(series, last=12)
    assert len(ax.lines[0].get_xdata()) == 12
    np.testing.assert_allclose(ax.lines[1].get_ydata(), fc.predict()["forecast"])


def test_forecaster_plot_of_a_long_frame_picks_one_series():
    t = np.arange(40)
    frame = pd.DataFrame({
        "store": np.repeat(["a", "b"], 40),
        "date": np.tile(pd.date_range("2020-01-01", periods=40, freq="D"), 2),
        "sales": np.concatenate([10 + np.sin(t / 3), 20 + np.cos(t / 3)]),
    })
    fc = Forecaster(7, 3, units=4, epochs=2).fit(frame, id_col="store", time_col="date", value_col="sales")
    ax = fc.plot(frame, series_id="b")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), frame.loc[frame.store == "b", "sales"])
    with pytest.raises(ValueError, match="needs `series_id`"):
        fc.plot(frame)

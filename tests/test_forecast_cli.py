"""`lstmkit forecast`: files written all at once, bad input is one stderr line and exit 2."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from lstmkit import plot
from lstmkit.cli import main
from lstmkit.forecast import Forecaster

QUICK = ["--epochs", "4", "--units", "4"]


@pytest.fixture(scope="module")
def stores_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    rows = []
    for store, level in [("north", 100.0), ("south", 20.0)]:
        dates = pd.date_range("2016-01-01", periods=60, freq="MS")
        sales = level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(60) / 12)) + rng.normal(0, 1, 60)
        rows.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "store": store, "sales": sales}))
    table = pd.concat(rows, ignore_index=True)
    table.to_csv(folder / "stores.csv", index=False)
    table.to_parquet(folder / "stores.parquet")
    return folder


def test_bundled_dataset_writes_every_result(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["forecast", "--dataset", "airline_passengers", "--out", str(out), *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "seasonal_naive" in printed and "Wrote forecast.csv" in printed
    assert sorted(p.name for p in out.iterdir()) == ["forecast.csv", "forecast.png", "metrics.csv", "model.lstmkit",
                                                      "report.md"]
    forecast = pd.read_csv(out / "forecast.csv", index_col=0, parse_dates=True)
    assert len(forecast) == 12 and str(forecast.index[0].date()) == "1961-01-01"
    assert list(forecast.columns) == ["forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
    metrics = pd.read_csv(out / "metrics.csv", index_col=0)
    # --statistical auto: the [stats] extra (in dev) is installed, so the statistical models stand beside it
    assert list(metrics.index) == ["lstm", "naive", "seasonal_naive", "drift", "mean", "auto_ets", "auto_arima",
                                   "theta"]
    report = (out / "report.md").read_text()
    assert "## Beside AutoETS, AutoARIMA and Theta at 3 origin(s) of the validation tail" in report
    assert report.startswith("# Forecast of airline_passengers")
    assert "season 12 inferred from the monthly index" in report and "| seasonal_naive |" in report
    assert ("beats every baseline" in report) or ("A baseline wins" in report)
    image = imread(out / "forecast.png")
    assert image.shape[0] > 300 and image.shape[1] > 600
    loaded = Forecaster.load(out / "model.lstmkit")
    np.testing.assert_allclose(loaded.predict()["forecast"], forecast["forecast"], rtol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["results"]  # no temporary folder left beside it


def test_csv_with_many_series_and_a_backtest(tmp_path, stores_csv, capsys):
    out = tmp_path / "stores"
    argv = ["forecast", str(stores_csv / "stores.csv"), "--time", "date", "--target", "sales", "--id", "store",
            "--horizon", "6", "--lookback", "12", "--backtest", "--statistical", "off", "--out", str(out), "--quiet",
            *QUICK]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("Wrote forecast.csv, metrics.csv, forecast.png, backtest.csv")
    forecast = pd.read_csv(out / "forecast.csv")
    assert forecast["id"].tolist() == ["north"] * 6 + ["south"] * 6
    backtest = pd.read_csv(out / "backtest.csv")
    assert set(backtest["id"]) == {"north", "south"} and backtest["origin"].nunique() == 5
    metrics = pd.read_csv(out / "metrics.csv", index_col=0)
    assert {"coverage_80", "width_95"} <= set(metrics.columns) and "auto_arima" not in metrics.index
    assert "## Backtest: 5 origins from 2018-07-01 to 2020-07-01" in (out / "report.md").read_text()


def test_parquet_input_and_rewriting_an_existing_folder(tmp_path, stores_csv):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "forecast.csv").write_text("old")
    argv = ["forecast", str(stores_csv / "stores.parquet"), "--target", "sales", "--id", "store", "--horizon", "3",
            "--levels", "none", "--out", str(out), "--quiet", *QUICK]
    assert main(argv) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert list(pd.read_csv(out / "forecast.csv").columns) == ["date", "id", "forecast"]


@pytest.mark.parametrize("argv, wording", [
    (["--dataset", "nile", "--horizon", "100"], "has 100 points, but lookback 1 (chosen from the data; --lookback "
                                                "sets it) and --horizon 100 need at least 101. Pass a smaller --horizon"),
    (["--dataset", "nile", "--horizon", "60"], "need at least 146 to keep a validation tail"),
    (["--dataset", "nile", "--horizon", "60", "--lookback", "30"], "Pass a smaller --horizon or --lookback"),
    (["{empty}"], "empty.csv' is empty; it needs a header row"),
    (["{header}"], "header.csv' has a header (date, sales) but no rows"),
    (["{unsorted}"], "unsorted.csv' is not sorted by time: the series has 2020-01-03 00:00:00 before 2020-01-01 "
                     "00:00:00. Sort the file's rows by the time column, then run again."),
    (["--dataset", "airlines"], "unknown dataset 'airlines'; did you mean 'airline_passengers'"),
    (["{csv}", "--target", "revenue"], "--target 'revenue' is not a column of"),
    (["{csv}", "--target", "sales", "--id", "store", "--time", "store"], "column 'store' is named twice"),
    (["{csv}", "--target", "sales", "--time", "store"], "time column 'store' could not be read as dates"),
    (["{csv}"], "pass --target to say which to forecast"),
    (["data.xlsx"], "unsupported file type '.xlsx'; pass a .csv or .parquet file"),
    (["missing.csv"], "no data file at 'missing.csv'"),
    ([], "give a data file or --dataset NAME"),
    (["{csv}", "--dataset", "nile"], "give a data file or --dataset NAME"),
    (["--dataset", "nile", "--levels", "80,150"], "--levels '80,150': give whole percents"),
    (["--dataset", "nile", "--time-budget", "5"], "--time-budget bounds the candidates of --lookback auto; pass "
                                                   "--lookback auto, or leave --time-budget out."),
    (["--dataset", "nile", "--calendar", "week,month"], "`calendar` names unknown cycle(s) ['month']; the cycles are "
                                                        "['day', 'week', 'year']"),
])
def test_bad_input_is_one_stderr_line_exit_2_and_nothing_written(argv, wording, tmp_path, stores_csv, capsys):
    out = tmp_path / "results"
    files = stores_csv.parent / "bad"
    files.mkdir(exist_ok=True)
    (files / "empty.csv").write_text("")
    (files / "header.csv").write_text("date,sales\n")
    (files / "unsorted.csv").write_text("date,sales\n2020-01-03,1\n2020-01-01,2\n2020-01-02,3\n")
    names = {"{csv}": str(stores_csv / "stores.csv"), **{f"{{{n}}}": str(files / f"{n}.csv")
                                                          for n in ("empty", "header", "unsorted")}}
    argv = [names.get(a, a) for a in argv]
    assert main(["forecast", *argv, "--out", str(out), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstmkit: error:") and wording in err and err.count("\n") == 1
    assert "validation_split" not in err and "sort_index" not in err  # Python names mean nothing here
    assert list(tmp_path.iterdir()) == []


def test_a_rerun_removes_files_of_the_earlier_run_it_does_not_write(tmp_path, capsys):
    out = tmp_path / "results"
    base = ["forecast", "--dataset", "nile", "--horizon", "5", "--quiet", "--statistical", "off", *QUICK]
    assert main([*base, "--backtest", "--out", f"{out}/"]) == 0
    assert {"backtest.csv", "backtest.png"} <= {p.name for p in out.iterdir()}
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main([*base, "--out", f"{out}//"]) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith(f"to {out}/") and "//" not in printed
    assert sorted(p.name for p in out.iterdir()) == ["forecast.csv", "forecast.png", "metrics.csv",
                                                     "model.lstmkit", "notes.txt", "report.md"]


def test_out_must_be_a_folder_whose_parent_exists(tmp_path, capsys):
    assert main(["forecast", "--dataset", "nile", "--out", str(tmp_path / "no" / "such"), *QUICK]) == 2
    assert "does not exist; create it first" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["forecast", "--dataset", "nile", "--out", str(tmp_path / "file"), *QUICK]) == 2
    assert "is a file; name a folder" in capsys.readouterr().err


def test_a_failure_while_writing_leaves_the_old_results_whole(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "forecast.csv").write_text("old")

    def broken(ax, path, dpi=120):
        raise PermissionError("disk says no")

    monkeypatch.setattr(plot, "save_figure", broken)
    assert main(["forecast", "--dataset", "nile", "--out", str(out), "--quiet", *QUICK]) == 2
    assert "disk says no" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["results"]
    assert [p.name for p in out.iterdir()] == ["forecast.csv"] and (out / "forecast.csv").read_text() == "old"


def test_interpolation_warning_is_one_stderr_line(tmp_path, capsys):
    dates = pd.date_range("2000-01-01", periods=80, freq="D")
    table = pd.DataFrame({"day": dates, "y": np.sin(np.arange(80) / 3)}).drop(index=[40, 41])
    table.to_csv(tmp_path / "gappy.csv", index=False)
    assert main(["forecast", str(tmp_path / "gappy.csv"), "--out", str(tmp_path / "out"), "--quiet",
                 "--statistical", "off", *QUICK]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lstmkit: warning: filled 2 missing point(s)" in err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["forecast", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--time", "--target", "--id", "--horizon", "--lookback", "--time-budget", "--season",
                   "--strategy", "--relative",
                   "--scaler", "--levels", "--epochs", "--units", "--ensemble", "--linear", "--calendar", "--missing", "--seed",
                   "--backtest",
                   "--out", "--quiet"):
        assert option in text
    assert "forecast.csv, metrics.csv, forecast.png, model.lstmkit and report.md" in " ".join(text.split())


def test_linear_trains_the_linear_model_beside_the_lstm(tmp_path):
    out = tmp_path / "out"
    assert main(["forecast", "--dataset", "airline_passengers", "--out", str(out), "--quiet", "--statistical", "off",
                 "--linear", *QUICK]) == 0
    model = Forecaster.load(out / "model.lstmkit")
    assert model.linear and model.linear_ is not None
    forecast = pd.read_csv(out / "forecast.csv")
    np.testing.assert_allclose(forecast["forecast"], model.predict()["forecast"], rtol=1e-6)
    assert "- Linear model (linear=True): Flatten + Dense(12) on the same windows" in (out / "report.md").read_text()


def test_calendar_features_are_chosen_saved_and_reported(tmp_path):
    days = pd.date_range("2021-01-04", periods=140, freq="D")
    sales = np.where(days.day_of_week < 5, 10.0, 2.0) + np.random.default_rng(0).normal(0, 0.3, len(days))
    pd.DataFrame({"date": days, "sales": sales}).to_csv(tmp_path / "sales.csv", index=False)
    for calendar, expected in [("auto", ("week",)), ("none", ())]:
        out = tmp_path / calendar
        assert main(["forecast", str(tmp_path / "sales.csv"), "--lookback", "3", "--horizon", "3", "--calendar",
                     calendar, "--out", str(out), "--quiet", "--statistical", "off", *QUICK]) == 0
        assert Forecaster.load(out / "model.lstmkit").calendar_ == expected
        report = (out / "report.md").read_text()
        assert ("- Calendar: time-of-week features added" in report) == bool(expected)


def test_lookback_auto_with_a_time_budget(tmp_path):
    out = tmp_path / "auto"
    assert main(["forecast", "--dataset", "airline_passengers", "--lookback", "auto", "--time-budget", "1e-6",
                 "--ensemble", "1", "--out", str(out), "--quiet", "--statistical", "off", *QUICK]) == 0
    model = Forecaster.load(out / "model.lstmkit")
    assert model.auto_lookback and model.member_lookbacks_ == [12]  # the shortest; 24 and 36 skipped
    assert "- Lookback auto: candidates 12, 24, 36" in (out / "report.md").read_text()
    assert "Skipped 24, 36: time_budget=1e-06 s" in (out / "report.md").read_text()


@pytest.mark.parametrize("argv, wording", [
    (["--lookback", "soon"], "argument --lookback: must be an integer >= 1 or 'auto'; got 'soon'"),
    (["--lookback", "auto", "--time-budget", "-3"], "argument --time-budget: must be a number of seconds > 0"),
])
def test_a_bad_lookback_or_budget_is_refused_by_the_parser(argv, wording, capsys):
    with pytest.raises(SystemExit) as done:
        main(["forecast", "--dataset", "nile", *argv])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert wording in err and len(err.strip().splitlines()) == 1

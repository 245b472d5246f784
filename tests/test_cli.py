import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from lstmkit.cli import main
from lstmkit.demo import run_demo

TEMPERATURES = [14.2, 15.1, 16.3, 15.8, 14.9, 13.7, 14.4, 15.9, 17.2, 17.8,
                16.9, 15.6, 14.8, 15.3, 16.7, 17.9, 18.4, 17.6, 16.2, 15.5]


def test_demo_writes_plot_and_prints_scores(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--epochs", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Total params: 10,451" in printed
    assert "Epoch 3/3" in printed
    assert "naive (yesterday)" in printed and "0.929" in printed  # naive MAE, worked out below
    image = imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert not [p for p in tmp_path.iterdir() if p.name != "demo.png"]  # no temporary files left


def test_demo_split_alignment_and_naive_scores():
    result = run_demo(epochs=2, seed=0, verbose=0, print_fn=lambda _: None)
    assert result.split == 13
    np.testing.assert_array_equal(result.train_days, np.arange(5, 13))
    np.testing.assert_array_equal(result.test_days, np.arange(13, 20))
    np.testing.assert_allclose(result.actual, TEMPERATURES, rtol=1e-6)
    np.testing.assert_allclose(result.naive_prediction, TEMPERATURES[12:19], rtol=1e-6)
    # |15.3-14.8| + |16.7-15.3| + |17.9-16.7| + |18.4-17.9| + |17.6-18.4| + |16.2-17.6| + |15.5-16.2| = 6.5
    assert result.scores["naive"]["MAE"] == pytest.approx(6.5 / 7, abs=1e-5)
    # Predictions are back in degrees, not in the scaler's 0..1 range.
    assert 10 < result.test_prediction.mean() < 25
    assert len(result.history.history["loss"]) == 2


def test_demo_is_repeatable_with_a_seed():
    first = run_demo(epochs=3, seed=5, verbose=0, print_fn=lambda _: None)
    second = run_demo(epochs=3, seed=5, verbose=0, print_fn=lambda _: None)
    np.testing.assert_array_equal(first.test_prediction, second.test_prediction)


def test_no_plot_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--epochs", "1", "--no-plot", "--quiet"]) == 0
    assert list(tmp_path.iterdir()) == []
    assert "Epoch" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, wording",
    [
        (["demo", "--out", "/no/such/folder/demo.png"], "does not exist"),
        (["demo", "--out", "demo.txt"], "must name a .png file"),
    ],
)
def test_bad_output_path_is_one_line_and_exit_2(argv, wording, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstmkit: error:") and wording in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "argv, wording",
    [
        (["demo", "--epochs", "-1"], "argument --epochs: must be an integer >= 0; got -1"),
        (["demo", "--epochs", "ten"], "invalid"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_mistakes_are_one_stderr_line(argv, wording):
    done = subprocess.run([sys.executable, "-m", "lstmkit", *argv], capture_output=True, text=True)
    assert done.returncode == 2
    assert wording in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_help_lists_commands_and_options():
    done = subprocess.run([sys.executable, "-m", "lstmkit", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "demo" in done.stdout
    done = subprocess.run([sys.executable, "-m", "lstmkit", "demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for option in ("--epochs", "--seed", "--out", "--no-plot"):
        assert option in done.stdout


def test_ctrl_c_is_one_line_and_exit_130_with_nothing_written(tmp_path):
    import signal

    # `python -m lstmkit demo ...`, with Ctrl-C raising KeyboardInterrupt as in a terminal: a child inherits
    # an ignored SIGINT from its parent, and Python then installs no handler (the suite's workers may ignore it).
    start = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "sys.argv = ['lstmkit', *sys.argv[1:]]; runpy.run_module('lstmkit', run_name='__main__')")
    process = subprocess.Popen([sys.executable, "-u", "-c", start, "demo", "--epochs", "1000000",
                                "--out", str(tmp_path / "demo.png")], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # wait until training runs: the second epoch, so the first has loaded
            if line.startswith("Epoch 2/"):  # (or, on a cold kernel cache, compiled) every kernel
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert err == "lstmkit: interrupted; no results were written.\n"
    assert list(tmp_path.iterdir()) == []

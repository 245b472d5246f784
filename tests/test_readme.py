"""The README's Python snippets, pasted into a file and run from another folder, work and print
the numbers the README quotes beside them."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def _run(code, folder):
    script = folder / "snippet.py"
    script.write_text(code, encoding="utf-8")
    process = subprocess.run([sys.executable, str(script)], cwd=folder, capture_output=True, text=True,
                             timeout=600, env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout


def _quoted(block, marker):
    """The text a snippet's comment quotes after `marker` (what the README says it prints)."""
    return re.search(re.escape(marker) + r"\s*#\s*(.*)", block).group(1)


def _block(first_import):
    found = [b for b in BLOCKS if first_import in b]
    assert len(found) == 1, f"the README should hold one snippet with {first_import!r}"
    return found[0]


def test_every_snippet_is_a_known_one():
    assert len(BLOCKS) == 4


def test_the_ported_tutorial_prints_what_the_readme_says(tmp_path):
    block = _block("from lstmkit.datasets import load_temperatures")
    out = _run(block, tmp_path)
    quoted = _quoted(block, 'print(f"test MAE {np.abs(error).mean():.3f} °C")')
    assert quoted.startswith("test MAE 1.581 °C") and "test MAE 1.581 °C\n" in out
    assert "Total params: 10,451" in out and (tmp_path / "temps.lstmkit").is_file()


@pytest.mark.parametrize("block", [b for b in BLOCKS if "load_temperatures" not in b],
                         ids=lambda b: b.split("\n")[0][:40])
def test_the_other_snippets_run_from_another_folder(tmp_path, block):
    out = _run(block, tmp_path)
    assert out.strip()
    if "export_onnx" in block:
        assert "ONNX Runtime vs predict: True" in out and "Tuned (3 trials" in out
    elif "Forecaster(" in block:
        assert "Forecaster: lookback 36, horizon 12" in out and "Backtest: 5 origin(s)" in out
        assert (tmp_path / "airline.png").stat().st_size > 10_000 and (tmp_path / "airline.lstmkit").is_file()
    if "SequenceClassifier(" in block:
        quoted = _quoted(block, "print(f\"test accuracy {evaluation['accuracy']:.3f}\")")
        printed = quoted.split(" (")[0]  # the comment goes on with the baselines' scores
        assert printed.startswith("test accuracy 0.") and printed + "\n" in out
        for name, score in re.findall(r"(1-NN \w+) (0\.\d{3})", quoted):  # the baselines quoted beside it
            assert re.search(rf"{name}\s+{score}", out), (name, score)
        assert "SequenceClassifier: lstm-fcn" in out and (tmp_path / "chinatown.lstmkit").is_file()

"""The sequence-to-sequence and text examples run (short versions; README quotes the full runs)."""

import re
import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")


def test_addition_learns_beyond_chance_and_prints_exact_match(capsys):
    example = load("addition_seq2seq")
    questions, answers = example["make_questions"](500, 3, seed=0)
    assert len(set(questions)) == 500 and all(str(eval(q)) == a for q, a in zip(questions, answers))
    assert {len(q.split("+")[0]) for q in questions} == {1, 2, 3}
    accuracy = example["main"](samples=3000, epochs=6, digits=2, units=64, batch_size=32, learning_rate=0.01,
                               verbose=0)
    assert accuracy > 0.05  # exact sums of unseen pairs; guessing gets ~0.005
    assert capsys.readouterr().out.splitlines()[-1] == f"exact match: {accuracy:.2f}"


def test_date_translation_writes_iso_dates_and_the_attention_plot(tmp_path, capsys):
    example = load("date_translation")
    written, iso = example["human_dates"](200, seed=1)
    assert len({re.sub(r"\d", "0", w) for w in written}) > 7  # every format, with and without padding
    plot_path = tmp_path / "attention.png"
    example["main"](samples=1200, epochs=6, units=32, plot_path=str(plot_path), verbose=0)
    out = capsys.readouterr().out
    translations = re.findall(r"-> ([^\s;]+)", out)
    assert len(translations) == 5 and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for t in translations)
    assert plot_path.stat().st_size > 10_000


def test_text_generation_prints_three_temperatures_and_both_scores(capsys):
    scores = load("text_generation")["main"](epochs=1, units=16, text_chars=20_000, sample_length=40)
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("--- temperature")] == [
        "--- temperature 0.5 ---", "--- temperature 0.8 ---", "--- temperature 1.1 ---"]
    assert scores["bits_per_character"] > 0 and scores["baseline_bits_per_character"] > 0
    assert f"{scores['bits_per_character']:.3f} bits/char (5-gram, interpolated Kneser-Ney: " in out

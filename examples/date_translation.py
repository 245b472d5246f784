"""Translate human-written dates to ISO 8601: "4 December 2026" or "12/4/26" -> "2026-12-04".

A Seq2Seq with Luong attention reads the date character by character (both ways) and writes the
ISO form; the attention weights show which characters each output character was read from: the
year digits from the year, the month from the month's name or number. The heat map of one
translation is written to a PNG.
"""

import datetime

import numpy as np

from lstmkit import plot
from lstmkit.optimizers import Adam
from lstmkit.seq2seq import Seq2Seq

FORMATS = ("{d} {B} {Y}", "{m}/{d}/{y}", "{B} {d}, {Y}", "{d} {b} {Y}", "{A}, {d} {B} {Y}", "{Y}.{m2}.{d2}",
           "{d2}-{b}-{y}")


def human_dates(count: int, seed: int) -> tuple[list[str], list[str]]:
    """`count` random dates from 1950-2049 in one of FORMATS each, and their ISO forms."""
    rng = np.random.default_rng(seed)
    first = datetime.date(1950, 1, 1).toordinal()
    days = rng.integers(0, datetime.date(2049, 12, 31).toordinal() - first + 1, count)
    written, iso = [], []
    for day, form in zip(days, rng.integers(0, len(FORMATS), count)):
        date = datetime.date.fromordinal(first + int(day))
        written.append(FORMATS[form].format(
            d=date.day, d2=f"{date.day:02d}", m=date.month, m2=f"{date.month:02d}", y=f"{date.year % 100:02d}",
            Y=date.year, B=date.strftime("%B"), b=date.strftime("%b"), A=date.strftime("%A")))
        iso.append(date.isoformat())
    return written, iso


def main(samples: int = 10_000, epochs: int = 10, units: int = 64, plot_path: str | None = "date_attention.png",
         seed: int = 0, verbose: int = 2) -> float:
    """Train, translate 500 unseen dates, plot one's attention; returns the exact-match accuracy."""
    written, iso = human_dates(samples + 500, seed)
    model = Seq2Seq(units=units, bidirectional=True, attention="luong", embedding_dim=16)
    model.fit(written[:samples], iso[:samples], epochs=epochs, batch_size=64, optimizer=Adam(learning_rate=0.005),
              verbose=verbose, seed=seed)
    predicted = model.predict(written[samples:])
    for source, guess in list(zip(written[samples:], predicted))[:4]:
        print(f"{source!r} -> {guess}")
    if plot_path:
        trace = model.trace("4 December 2026")
        print(f"'4 December 2026' -> {''.join(trace.output_tokens[:-1])}; attention heat map: {plot_path}")
        plot.save_figure(plot.attention_heatmap(trace), plot_path)
    accuracy = float(np.mean([guess == answer for guess, answer in zip(predicted, iso[samples:])]))
    print(f"exact match: {accuracy:.2f}")
    return accuracy


if __name__ == "__main__":
    main()

"""`lstmkit classify`: train a SequenceClassifier on one file, score it on another.

Files: the UCR/UEA archive's .ts, .tsv, .txt and .arff (lstmkit.ucr), or a long CSV with one row
per sequence and time step: an id column, a time column, a label column and one numeric column
per channel. Writes predictions.csv, metrics.csv (the classifier beside the baselines),
confusion_matrix.png, model.lstmkit and report.md into --out, all or none.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

CLASSIFY_FILES = ("predictions.csv", "metrics.csv", "confusion_matrix.png", "model.lstmkit", "report.md")
ARCHIVE_SUFFIXES = (".ts", ".tsv", ".txt", ".arff")


def add_classify_parser(commands: argparse._SubParsersAction, positive_int: Any, non_negative_int: Any) -> None:
    classify = commands.add_parser(
        "classify",
        help="classify whole sequences: train on one UCR/UEA or CSV file, score on another",
        description=(
            "Fit a SequenceClassifier (normalisation fitted on the training file only, stratified validation part for "
            "early stopping, balanced class weights when imbalanced) and score it on --test beside the majority "
            "class, 1-NN Euclidean and 1-NN DTW. Reads the UCR/UEA archive's .ts/.tsv/.txt/.arff files, or a long CSV "
            "(one row per sequence and time step). Writes " + ", ".join(CLASSIFY_FILES) + " into --out."),
    )
    classify.add_argument("train", help="training file: .ts, .tsv, .txt, .arff or .csv")
    classify.add_argument("--test", required=True, help="test file, in the same format")
    classify.add_argument("--id", default="id", help="CSV: the sequence id column (default id)")
    classify.add_argument("--time", default="time", help="CSV: the time column (default time)")
    classify.add_argument("--label", default="label", help="CSV: the class label column (default label)")
    classify.add_argument("--architecture", choices=["lstm-fcn", "lstm"], default="lstm-fcn",
                          help="network (default lstm-fcn: recurrent and convolutional branches)")
    classify.add_argument("--epochs", type=positive_int, default=150, help="most epochs (default 150)")
    classify.add_argument("--ensemble", type=positive_int, default=1,
                          help="models trained with different seeds, probabilities averaged (default 1)")
    classify.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    classify.add_argument("--out", default="lstmkit_classify", help="results folder (default lstmkit_classify)")
    classify.add_argument("--quiet", action="store_true", help="print only the final line")


def read_labelled_file(path: str, args: argparse.Namespace, classes: list[str] | None = None
                       ) -> tuple[Any, Any, list[Any], list[Any], list[str] | None]:
    """(sequences, fit's y, ids, labels, classes) from an archive file or a long CSV (whose y is
    the label column's name)."""
    import pandas as pd

    from lstmkit.ucr import load_ucr

    suffix = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no file at {path!r}.")
    if suffix in ARCHIVE_SUFFIXES:
        series, targets, file_classes = load_ucr(path, classes)
        labels = [file_classes[t] for t in targets]
        return series, labels, list(range(len(series))), labels, file_classes
    if suffix != ".csv":
        raise ValueError(f"{path!r}: unsupported file type {suffix!r}; pass .ts, .tsv, .txt, .arff or .csv.")
    frame = pd.read_csv(path)
    missing = [c for c in (args.id, args.time, args.label) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path!r} has no column {missing[0]!r} (columns: {list(frame.columns)}); name the id, time "
                         f"and label columns with --id, --time and --label.")
    labels = frame.groupby(args.id, sort=False)[args.label].first()
    return frame, args.label, list(labels.index), labels.tolist(), None


def run_classify_command(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from lstmkit import plot
    from lstmkit.classify import SequenceClassifier
    from lstmkit.report import classification_report, write_folder

    out = Path(args.out)
    if not out.resolve().parent.is_dir() or out.is_file():
        raise FileNotFoundError(f"--out {args.out!r}: name a folder whose parent exists.")
    train_x, train_y, _, _, classes = read_labelled_file(args.train, args)
    test_x, test_y, test_ids, truth, _ = read_labelled_file(args.test, args, classes)
    columns = {"id_col": args.id, "time_col": args.time} if isinstance(train_x, pd.DataFrame) else {}
    if isinstance(test_x, pd.DataFrame) != isinstance(train_x, pd.DataFrame):
        raise ValueError("give the training and test data in the same format (both archive files or both CSV).")
    classifier = SequenceClassifier(architecture=args.architecture, epochs=args.epochs,
                                    ensemble=args.ensemble, seed=args.seed)
    classifier.fit(train_x, train_y, **columns, verbose=0 if args.quiet else 1)
    evaluation = classifier.evaluate(test_x, test_y, **columns)
    probabilities = np.asarray(classifier.predict_proba(test_x, **columns))
    predictions = pd.DataFrame({"id": test_ids, "label": truth,
                                "predicted": [classifier.classes_[k] for k in probabilities.argmax(axis=1)]})
    for k, label in enumerate(classifier.classes_):
        predictions[f"p_{label}"] = probabilities[:, k]
    if not args.quiet:
        print(f"Test ({len(truth)} sequences of {args.test}):")
        print(evaluation.summary())
    writers = {
        "predictions.csv": lambda path: predictions.to_csv(path, index=False),
        "metrics.csv": lambda path: evaluation.table.to_csv(path, index_label="model"),
        "confusion_matrix.png": lambda path: plot.save_figure(plot.confusion_matrix_plot(
            evaluation.confusion_matrix, [str(c) for c in evaluation.classes]), path),
        "model.lstmkit": classifier.save,
    }
    report = classification_report(classifier, evaluation, train=args.train, test=args.test,
                                   files=[*writers, "report.md"])
    writers["report.md"] = lambda path: _write_text(path, report)
    write_folder(args.out, writers, owned=CLASSIFY_FILES)
    print(f"Wrote {', '.join(writers)} to {args.out}")
    return 0


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)

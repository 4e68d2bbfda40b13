"""Self-supervised distillation benchmark on digits: AlexNet students under one training budget, several seeds.

The runs are one sweep of ``benchmarks/ssl_digits.yaml``: its ``sweep:`` section keeps ``teacher_ssl`` at the
file's seed 0, so the teacher is trained once and shared by every seed, and sets ``engine.seed`` per seed on every
other stage. This script formats the sweep's table of linear-probe top-1 at 1, 5 and 10 labelled images per class,
the full-label probe and kNN top-1 (mean ± sample std over seeds) for:

- floors: raw pixels and a randomly initialised AlexNet;
- the upper bound: AlexNet trained with labels;
- AlexNet MoCo v2 alone, SEED and ReKD (supcon and kl variants) from the same MoCo v2 ResNet-18 teacher;

plus the gap-closure ratio (ReKD - MoCo) / (supervised - MoCo) on the 5-shot probe::

    .venv/bin/ssl-kd sweep benchmarks/ssl_digits.yaml --seeds 0 1 2
    .venv/bin/python -m benchmarks.ssl_digits runs/sweeps/ssl_digits --out benchmarks/results/ssl_digits.md

``--compare FILE`` adds, per cell, whether it equals the same row and column of an earlier results file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.kd_zoo import compare
from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std
from benchmarks.sweep_results import complete_runs
from ssl_kd.sweep.stats import mean

ROWS = {  # table row -> (probe stage, metric prefix)
    "raw pixels (floor)": ("probe_random", "raw_pixels_"),
    "random-init AlexNet (floor)": ("probe_random", ""),
    "AlexNet supervised (upper bound)": ("probe_supervised", ""),
    "AlexNet MoCo v2": ("probe_moco", ""),
    "AlexNet SEED": ("probe_seed", ""),
    "AlexNet ReKD (supcon)": ("probe_rekd_supcon", ""),
    "AlexNet ReKD (kl)": ("probe_rekd_kl", ""),
    "ResNet-18 MoCo v2 teacher": ("probe_teacher", ""),
}
COLUMNS = {
    "1-shot": "linear_top1_1shot",
    "5-shot": "linear_top1_5shot",
    "10-shot": "linear_top1_10shot",
    "full-label linear": "linear_top1",
    "kNN": "knn_top1",
}


def seed_results(sweep_dir: Path) -> tuple[list[dict[str, dict[str, float]]], list[int]]:
    """Every complete run's ``results.json`` (stage -> metric -> value) from ``sweep.json``, and their seeds."""
    runs = complete_runs(sweep_dir)
    return [run["results"] for run in runs.values()], list(runs)


def markdown_table(results: list[dict[str, dict[str, float]]]) -> tuple[str, dict[str, dict[str, float]]]:
    """The table in markdown, and row -> column -> mean over seeds (for the gap closure)."""
    means: dict[str, dict[str, float]] = {}
    lines = ["| model | " + " | ".join(COLUMNS) + " |", "| --- |" + " --- |" * len(COLUMNS)]
    for row, (stage, prefix) in ROWS.items():
        cells, means[row] = [], {}
        for column, metric in COLUMNS.items():
            values = [result[stage][prefix + metric] for result in results]
            means[row][column] = mean(values)
            cells.append(mean_std(values))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines), means


def gap_closure(means: dict[str, dict[str, float]]) -> list[str]:
    """(ReKD - MoCo) / (supervised - MoCo) on the 5-shot probe, per ReKD variant."""
    moco, supervised = means["AlexNet MoCo v2"]["5-shot"], means["AlexNet supervised (upper bound)"]["5-shot"]
    lines = []
    for variant in ("supcon", "kl"):
        rekd = means[f"AlexNet ReKD ({variant})"]["5-shot"]
        ratio = (rekd - moco) / (supervised - moco) if supervised != moco else float("nan")
        lines.append(f"Gap closure (ReKD {variant} - MoCo) / (supervised - MoCo), 5-shot: {ratio:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder of benchmarks/ssl_digits.yaml")
    parser.add_argument("--out", type=Path, help="also write the table (and the comparison) here")
    parser.add_argument("--compare", type=Path, help="check every cell against this earlier results file")
    args = parser.parse_args()
    results, seeds = seed_results(args.sweep_dir)
    table, means = markdown_table(results)
    header = (
        f"Linear-probe and kNN top-1 on the digits test split, mean ± std over seeds {seeds}; from the sweep in "
        f"{args.sweep_dir} (`{args.sweep_dir}/sweep.md` has the per-seed values), formatted on a {hardware()}."
    )
    lines = [header, "", table, "", *gap_closure(means)]
    if args.compare:
        lines += ["", f"Against {args.compare}:", *compare(table, args.compare)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()

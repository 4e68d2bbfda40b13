"""Self-supervised distillation benchmark on digits: AlexNet students under one training budget, several seeds.

Runs ``benchmarks/ssl_digits.yaml`` once per seed (``STAGE.engine.seed=S`` for every stage but the shared
teacher, which is the same seed-0 run in every seed folder; stages already complete are skipped, so an interrupted
benchmark resumes), then writes a markdown table of linear-probe top-1 at 1, 5 and 10 labelled images
per class, the full-label probe and kNN top-1 (mean ± std over seeds) for:

- floors: raw pixels and a randomly initialised AlexNet;
- the upper bound: AlexNet trained with labels;
- AlexNet MoCo v2 alone, SEED and ReKD (supcon and kl variants) from the same MoCo v2 ResNet-18 teacher;

plus the gap-closure ratio (ReKD - MoCo) / (supervised - MoCo) on the 5-shot probe.

    .venv/bin/python benchmarks/ssl_digits.py                       # 3 seeds, writes benchmarks/results/ssl_digits.md
    .venv/bin/python benchmarks/ssl_digits.py --seeds 0 --set epochs=5   # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from benchmarks.machine import hardware
from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import Scheduler

HERE = Path(__file__).resolve().parent
SHARED_TEACHER = "teacher_ssl"  # trained once with seed 0; every seed's students distil from the same teacher
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


def run_seed(seed: int, overrides: list[str], run_root: Path) -> dict[str, dict[str, float]]:
    """Run (or resume) the pipeline for one seed and return its results.json."""
    names = load_pipeline(HERE / "ssl_digits.yaml", overrides).stage_names
    seeds = [f"{name}.engine.seed={seed}" for name in names if name != SHARED_TEACHER]
    pipeline = load_pipeline(HERE / "ssl_digits.yaml", [*overrides, *seeds])
    run_dir = run_root / f"seed_{seed}"
    Scheduler(pipeline, run_dir).run()
    return json.loads((run_dir / "results.json").read_text())


def summarise(results: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, tuple[float, float]]]:
    """Row -> column -> (mean, std over seeds)."""
    table = {}
    for row, (stage, prefix) in ROWS.items():
        table[row] = {}
        for column, metric in COLUMNS.items():
            values = [result[stage][prefix + metric] for result in results]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            table[row][column] = (statistics.fmean(values), spread)
    return table


def markdown(
    table: dict[str, dict[str, tuple[float, float]]], seeds: list[int], overrides: list[str], minutes: float
) -> str:
    lines = [
        f"Linear-probe and kNN top-1 on the digits test split, mean ± std over seeds {seeds} "
        f"({hardware()}, {torch.get_num_threads()} threads; {minutes:.0f} min wall time; "
        f"overrides: {' '.join(overrides) or 'none'}).",
        "",
        "| model | " + " | ".join(COLUMNS) + " |",
        "| --- |" + " --- |" * len(COLUMNS),
    ]
    for row, cells in table.items():
        lines.append(f"| {row} | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in cells.values()) + " |")
    moco, supervised = table["AlexNet MoCo v2"]["5-shot"][0], table["AlexNet supervised (upper bound)"]["5-shot"][0]
    lines.append("")
    for variant in ("supcon", "kl"):
        rekd = table[f"AlexNet ReKD ({variant})"]["5-shot"][0]
        ratio = (rekd - moco) / (supervised - moco) if supervised != moco else float("nan")
        lines.append(f"Gap closure (ReKD {variant} - MoCo) / (supervised - MoCo), 5-shot: {ratio:.2f}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="key.path=value")
    parser.add_argument("--run-root", type=Path, default=Path("runs/bench_ssl_digits"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ssl_digits.md")
    args = parser.parse_args()
    start = time.perf_counter()
    results = [run_seed(seed, args.overrides, args.run_root) for seed in args.seeds]
    text = markdown(summarise(results), args.seeds, args.overrides, (time.perf_counter() - start) / 60)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

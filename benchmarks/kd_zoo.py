"""KD zoo benchmark: every supervised method of ``pipelines/kd_zoo_digits.yaml`` over several seeds, one table.

Runs the pipeline once per seed (``engine.seed`` and ``data.subset_seed`` both set to the seed, so each seed draws
its own labelled subset and its own initialisation) through the same scheduler as ``ssl-kd run``, then prints and
writes a markdown table of test top-1 (mean ± sample std over seeds)::

    .venv/bin/python -m benchmarks.kd_zoo --seeds 0 1 2 --workers 1 --threads 2

``--workers`` runs seeds in parallel processes with ``--threads`` torch threads each. On 2 shared cores one worker
with 2 threads is fastest: parallel workers oversubscribe the cores (3 x 1 took 20 min per seed under load).
Every run lives in ``RUN_DIR/seed<k>`` and is resumable: rerunning skips finished stages.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

import torch

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std
from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import Scheduler

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "kd_zoo_digits.yaml"
ROWS = [  # (row label, stage suffix)
    ("student alone", "alone"),
    ("Hinton KD (convex, alpha 0.9)", "kd"),
    ("DML (2 peers, joint)", "dml"),
    ("DML (2 peers, alternating)", "dml_alt"),
    ("SOKD", "sokd"),
    ("DR-KD (no teacher)", "drkd"),
    ("FitNets (hint 30% -> KD 70% of the budget)", "fitnet"),
]
COLUMNS = [("MobileNetV2 (10 epochs)", "mbv2"), ("AlexNet (5 epochs)", "alexnet")]
VIT_ROWS = [
    ("ViT teacher (4 layers)", "vit_teacher"),
    ("ViT student alone (2 layers)", "vit_alone"),
    ("ViT student, internal-representation KD", "vit_internal"),
]


def seed_top1(pipeline_file: Path, seed: int, run_dir: Path) -> dict[str, float]:
    """Run a pipeline with ``engine.seed`` and ``data.subset_seed`` set to ``seed`` in ``run_dir/seed<seed>``.

    Returns ``{stage: test_top1}``.
    """
    overrides = [f"engine.seed={seed}", f"data.subset_seed={seed}", "engine.progress=false"]
    outcomes = Scheduler(load_pipeline(pipeline_file, overrides), run_dir / f"seed{seed}").run()
    return {outcome.name: outcome.metrics["test_top1"] for outcome in outcomes}


def run_seed(args: tuple[int, Path, int]) -> dict[str, float]:
    """Run the KD-zoo pipeline for one seed with ``threads`` torch threads (a worker of the pool)."""
    seed, run_dir, threads = args
    torch.set_num_threads(threads)
    return seed_top1(PIPELINE, seed, run_dir)


def markdown_table(per_seed: list[dict[str, float]]) -> str:
    """The student table and the ViT table, in markdown."""

    def cell(stage: str) -> str:
        return mean_std([seed[stage] for seed in per_seed])

    lines = ["| method | " + " | ".join(name for name, _ in COLUMNS) + " |", "| --- |" + " --- |" * len(COLUMNS)]
    lines.append("| ResNet-18 teacher | " + " | ".join(cell("teacher") for _ in COLUMNS) + " |")
    for label, suffix in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(f"{prefix}_{suffix}") for _, prefix in COLUMNS) + " |")
    lines += ["", "| ViT pair | test top-1 |", "| --- | --- |"]
    lines += [f"| {label} | {cell(stage)} |" for label, stage in VIT_ROWS]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/kd_zoo_bench"))
    parser.add_argument("--workers", type=int, default=1, help="seeds run in parallel")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads per worker")
    args = parser.parse_args()
    start = time.perf_counter()
    jobs = [(seed, args.run_dir, args.threads) for seed in args.seeds]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        per_seed = pool.map(run_seed, jobs)
    minutes = (time.perf_counter() - start) / 60
    table = markdown_table(per_seed)
    per_class = load_pipeline(PIPELINE).stages[0].data.train_per_class
    header = (
        f"Test top-1 on digits (450 test images), mean ± std over seeds {args.seeds}; "
        f"{per_class} labelled images per class; wall time {minutes:.1f} min "
        f"({args.workers} worker(s) x {args.threads} thread(s)) on a {hardware()}."
    )
    print(f"{header}\n\n{table}")
    args.run_dir.mkdir(parents=True, exist_ok=True)
    (args.run_dir / "kd_zoo.md").write_text(f"{header}\n\n{table}\n")
    (args.run_dir / "kd_zoo.json").write_text(json.dumps({"seeds": args.seeds, "top1": per_seed}, indent=2))


if __name__ == "__main__":
    main()

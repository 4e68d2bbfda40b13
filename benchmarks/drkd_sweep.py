"""DR-KD setting sweep on pilot seeds, kept apart from the seeds the KD-zoo table reports.

The KD-zoo benchmark reports seeds 0, 1, 2. This sweep picks DR-KD's loss weighting, alpha, tau, schedule and
CE warm-up on other seeds (10-14 by default), so that the reported DR-KD numbers are not the best of many tries on
the very seeds they are reported for. Each seed runs the student alone and every variant below, for both students of
``pipelines/kd_zoo_digits.yaml`` and with its data, optimiser and budgets (the ``defaults`` block and the per-student
epochs)::

    .venv/bin/python -m benchmarks.drkd_sweep --seeds 10 11 12 13 14 --threads 2

The chosen setting (``add_a1_t2_lin``, the best mean of the two students' means on seeds 10-14) is the one
``kd_zoo_digits.yaml`` uses; ``--seeds 0 1 2 3 4 --variants add_a1_t2_lin`` checks it on the reported seeds and
two more. Writes ``RUN_DIR/drkd_sweep.md`` (mean ± sample std and per-seed test top-1). Resumable: finished stages are
skipped, so adding a variant or a seed runs only what is new.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std
from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import Scheduler

ZOO = Path(__file__).resolve().parents[1] / "pipelines" / "kd_zoo_digits.yaml"
STUDENTS = {"mbv2": ("mobilenet_v2", 10, 3), "alexnet": ("alexnet", 5, 2)}  # arch, epochs, late CE warm-up
VARIANTS: dict[str, dict[str, Any]] = {  # name -> drkd options; "late" stands for the student's late warm-up
    "convex_a05_t2_lin": {"alpha": 0.5, "tau": 2.0, "alpha_schedule": "linear"},
    "add_a05_t2_lin": {"weighting": "additive", "alpha": 0.5, "tau": 2.0, "alpha_schedule": "linear"},
    "add_a1_t2_lin": {"weighting": "additive", "alpha": 1.0, "tau": 2.0, "alpha_schedule": "linear"},
    "add_a1_t1_lin": {"weighting": "additive", "alpha": 1.0, "tau": 1.0, "alpha_schedule": "linear"},
    "add_a1_t4_lin": {"weighting": "additive", "alpha": 1.0, "tau": 4.0, "alpha_schedule": "linear"},
    "add_a05_t4_const": {"weighting": "additive", "alpha": 0.5, "tau": 4.0},
    "add_a1_t2_lin_late": {
        "weighting": "additive",
        "alpha": 1.0,
        "tau": 2.0,
        "alpha_schedule": "linear",
        "ce_warmup_epochs": "late",
    },
    "add_a1_t1_const_late": {"weighting": "additive", "alpha": 1.0, "tau": 1.0, "ce_warmup_epochs": "late"},
    "add_a05_t4_const_late": {"weighting": "additive", "alpha": 0.5, "tau": 4.0, "ce_warmup_epochs": "late"},
}


def seed_top1(pipeline_file: Path, seed: int, run_dir: Path) -> dict[str, float]:
    """Run a pipeline with ``engine.seed`` and ``data.subset_seed`` set to ``seed`` in ``run_dir/seed<seed>``.

    Returns ``{stage: test_top1}``.
    """
    overrides = [f"engine.seed={seed}", f"data.subset_seed={seed}", "engine.progress=false"]
    outcomes = Scheduler(load_pipeline(pipeline_file, overrides), run_dir / f"seed{seed}").run()
    return {outcome.name: outcome.metrics["test_top1"] for outcome in outcomes}


def sweep_pipeline(variants: list[str]) -> dict[str, Any]:
    """The KD-zoo defaults with, per student, the student alone and one ``drkd`` stage per named variant."""
    zoo = yaml.safe_load(ZOO.read_text())
    stages: list[dict[str, Any]] = []
    for prefix, (arch, epochs, late_warmup) in STUDENTS.items():
        stages.append({"name": f"{prefix}_alone", "method": "supervised", "model": {"arch": arch}, "epochs": epochs})
        for variant in variants:
            options = {key: late_warmup if value == "late" else value for key, value in VARIANTS[variant].items()}
            stages.append(
                {
                    "name": f"{prefix}_{variant}",
                    "method": "drkd",
                    "student": {"arch": arch},
                    "teacher": "previous_epoch",
                    "ce_warmup_epochs": 1,
                    "epochs": epochs,
                    **options,
                }
            )
    return {"name": "drkd_sweep", "defaults": zoo["defaults"], "stages": stages}


def markdown(per_seed: dict[int, dict[str, float]]) -> str:
    """One row per stage: mean ± sample std, then the per-seed values."""
    seeds = list(per_seed)
    lines = [f"| stage | mean ± std | seeds {', '.join(map(str, seeds))} |", "| --- | --- | --- |"]
    for stage in per_seed[seeds[0]]:
        values = [per_seed[seed][stage] for seed in seeds]
        per = " / ".join(f"{value:.3f}" for value in values)
        lines.append(f"| {stage} | {mean_std(values)} | {per} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12, 13, 14])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/drkd_sweep"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), help="which variants (default: all)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    pipeline_file = args.run_dir / "drkd_sweep.yaml"
    pipeline_file.write_text(yaml.safe_dump(sweep_pipeline(args.variants), sort_keys=False))
    start = time.perf_counter()
    per_seed: dict[int, dict[str, float]] = {}
    for seed in args.seeds:
        per_seed[seed] = seed_top1(pipeline_file, seed, args.run_dir)
    minutes = (time.perf_counter() - start) / 60
    header = (
        f"DR-KD sweep, test top-1 on digits (450 test images), seeds {args.seeds}; "
        f"{minutes:.1f} min wall time on a {hardware()}."
    )
    table = markdown(per_seed)
    print(f"{header}\n\n{table}")
    (args.run_dir / "drkd_sweep.md").write_text(f"{header}\n\n{table}\n")
    (args.run_dir / "drkd_sweep.json").write_text(json.dumps(per_seed, indent=2))


if __name__ == "__main__":
    main()

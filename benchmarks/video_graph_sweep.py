"""Graph-distillation settings on pilot seeds, kept apart from the seeds the video benchmark reports (0-4).

Trains, per seed, the students alone (labelled clips only, same epochs and same steps; all clips, unlabelled
ignored) and one ``graph_distill``
student per variant below (the pipeline's ``graph``
stage with some keys changed), with the shared teachers of ``benchmarks/video_graph.py`` (same run directory, so
the teacher stages are reused when they exist)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.video_graph_sweep --seeds 10 11 12

Prints and writes ``RUN_DIR/video_graph_sweep.md``: mean ± std, the paired gain over the student alone and the
per-seed values of every variant.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std
from benchmarks.video_graph import (
    PIPELINE,
    graph_stage,
    labelled_data,
    matched_epochs,
    run,
    student_stages,
    teacher_stages,
)

VARIANTS: dict[str, dict[str, Any]] = {  # name -> keys of the graph stage that change
    "emd_tau1": {"logit_match": "emd", "tau": 1.0},
    "kl_tau4": {"logit_match": "kl", "tau": 4.0},
    "kl_tau4_agree": {"logit_match": "kl", "tau": 4.0, "teacher_weights": "pairwise_emd"},
}


def sweep_stages(
    graph: dict[str, Any], labelled: dict[str, Any], seed: int, variants: list[str], steps_epochs: int
) -> list[dict[str, Any]]:
    """The students alone (labelled clips only, same epochs and same steps; all clips) and one graph student per
    variant, for one seed."""
    alone, alone_steps, alone_all, *_, both = student_stages(graph, labelled, seed, "unused", steps_epochs)
    stages = [alone, alone_steps, alone_all]
    for variant in variants:
        stage = both | VARIANTS[variant] | {"name": f"{variant}_s{seed}"}
        stages.append(stage)
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--run-dir", type=Path, default=Path("runs/video_graph_bench"))
    args = parser.parse_args()
    raw = yaml.safe_load(PIPELINE.read_text())
    raw["name"] = "video_graph_sweep"
    graph = graph_stage(raw)
    labelled, matched = labelled_data(raw), matched_epochs(raw)
    students = [stage for seed in args.seeds for stage in sweep_stages(graph, labelled, seed, args.variants, matched)]
    metrics = run(raw | {"stages": teacher_stages(raw) + students}, args.run_dir)
    lines = ["| student | test top-1 | paired gain over alone | per seed |", "| --- | --- | --- | --- |"]
    alone = [metrics[f"alone_s{seed}"]["test_top1"] for seed in args.seeds]
    for name in ["alone", "alone_steps", "alone_all", *args.variants]:
        values = [metrics[f"{name}_s{seed}"]["test_top1"] for seed in args.seeds]
        gains = [value - solo for value, solo in zip(values, alone, strict=True)]
        per_seed = ", ".join(f"{value:.3f}" for value in values)
        lines.append(f"| {name} | {mean_std(values)} | {mean_std(gains, signed=True)} | {per_seed} |")
    table = f"Graph-distillation sweep, seeds {args.seeds}, on a {hardware()}\n\n" + "\n".join(lines)
    print(table)
    (args.run_dir / "video_graph_sweep.md").write_text(table + "\n")


if __name__ == "__main__":
    main()

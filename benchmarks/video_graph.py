"""Video graph-distillation benchmark on the moving digits: students over several seeds, model costs, decoders.

The runs are one sweep of ``benchmarks/video_graph.yaml``: ``pipelines/video_graph_digits.yaml``'s teacher stages
(four pretext teachers, each adapted to the 8 target classes on the labelled clips), trained once at the pipeline's
seed and shared by every seed, then per seed eight students with the same architecture::

    alone, labelled clips      supervised CE on the labelled clips only (the adapt stages' data), same epochs
    alone, same steps          the same, for as many optimiser steps as the distilled students take
    alone, all clips           supervised CE with the graph stage's data: every training clip, the unlabelled
                               ones ignored (same steps as the distilled students)
    single frame               as "alone, labelled clips", on clips whose frames all equal the middle frame
    KD, best teacher           Hinton KD from the adapted teacher with the best test top-1, graph stage's data
    + logits graph             graph_distill, representation graph off
    + representation graph     graph_distill, logits graph off
    + both                     graph_distill (the pipeline's graph stage)

The criterion compares "both" with the best of the three "alone" rows. This script formats the report: the students'
table, the adapted teachers and their ensemble, then it times every model (parameters, clip latency) and the
decoders (clips/s for decord and PyAV with 0 and 2 loader workers)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/ssl-kd sweep benchmarks/video_graph.yaml --seeds 0 1 2
    .venv/bin/python -m benchmarks.video_graph runs/sweeps/video_graph_benchmark --report video_graph.md

The graph settings were chosen on pilot seeds with ``ssl-kd sweep benchmarks/video_graph_pilot.yaml --seeds 10 11
12 13 14 --baseline alone``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std, seed_std
from benchmarks.sweep_results import complete_runs, read_sweep, run_folder, stage_seconds
from ssl_kd.config.schema import DataConfig
from ssl_kd.data import eval_loader, eval_transform, load_splits
from ssl_kd.models import build_model
from ssl_kd.stages.base import load_stage_model

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipelines" / "video_graph_digits.yaml"
ROWS = [  # (label, stage)
    ("student alone, labelled clips only", "alone"),
    ("student alone, labelled clips only, same steps as the distilled students", "alone_steps"),
    ("student alone, all clips (unlabelled ignored)", "alone_all"),
    ("single frame (no motion)", "single_frame"),
    ("student + KD, best single teacher", "kd"),
    ("student + logits graph", "logits"),
    ("student + representation graph", "rep"),
    ("student + both graphs", "both"),
]


def teacher_stages(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """A pipeline's teacher stages: the pretext teachers and their adaptation."""
    return [
        stage
        for stage in raw["stages"]
        if stage.get("method", "").startswith("pretext_") or stage.get("method") == "adapt"
    ]


def graph_stage(raw: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's ``graph`` stage: the student, data and budget every benchmark student shares."""
    return next(stage for stage in raw["stages"] if stage["name"] == "graph")


def labelled_data(raw: dict[str, Any]) -> dict[str, Any]:
    """The data of the pipeline's ``adapt`` stages: the labelled clips only."""
    return next(stage["data"] for stage in raw["stages"] if stage.get("method") == "adapt")


def matched_epochs(raw: dict[str, Any]) -> int:
    """Epochs on the labelled clips that take as many optimiser steps as the graph stage's epochs on its data."""
    graph = graph_stage(raw)

    def steps_per_epoch(data: dict[str, Any]) -> int:
        cfg = DataConfig.model_validate(raw["defaults"]["data"] | data)
        return len(load_splits(cfg).train) // cfg.batch_size

    return round(graph["epochs"] * steps_per_epoch(graph["data"]) / steps_per_epoch(labelled_data(raw)))


def accuracy_table(by_seed: dict[int, dict[str, dict[str, Any]]], best: str) -> tuple[str, dict[str, Any]]:
    """The students' markdown table and a summary (means, stds, the two-std verdict against the better alone row)."""
    seeds = list(by_seed)
    values = {stage: [by_seed[s][stage]["test_top1"] for s in seeds] for _, stage in ROWS}
    baseline = max(("alone", "alone_steps", "alone_all"), key=lambda prefix: statistics.mean(values[prefix]))
    alone = values[baseline]
    lines = ["| student (R(2+1)D, width 8) | test top-1 | Δ vs alone | per seed |", "| --- | --- | --- | --- |"]
    for label, prefix in ROWS:
        delta = statistics.mean(values[prefix]) - statistics.mean(alone)
        seeds_text = ", ".join(f"{v:.3f}" for v in values[prefix])
        shown = label.replace("best single teacher", f"best single teacher ({best})")
        lines.append(f"| {shown} | {mean_std(values[prefix])} | {delta:+.3f} | {seeds_text} |")
    std = [seed_std(alone), seed_std(values["both"])]
    gap = statistics.mean(values["both"]) - statistics.mean(alone)
    paired = [both - solo for both, solo in zip(values["both"], alone, strict=True)]  # same init, order, augmentation
    summary = {
        "top1": values,
        "baseline": baseline,
        "gap_both_vs_alone": gap,
        "two_std": 2 * max(std),
        "beats": gap > 2 * max(std),
        "paired_gaps": paired,
        "paired_std": seed_std(paired),
    }
    return "\n".join(lines), summary


def teacher_table(metrics: dict[str, dict[str, Any]], raw: dict[str, Any], ensemble: float) -> str:
    """Each adapted teacher's pretext loss and test top-1, and the test top-1 of their ensemble."""
    lines = ["| adapted teacher | pretext final loss | test top-1 |", "| --- | --- | --- |"]
    for stage in teacher_stages(raw):
        if stage["name"].startswith("adapt_"):
            pretext = stage["model"]["from"]
            loss, top1 = metrics[pretext]["train_loss"], metrics[stage["name"]]["test_top1"]
            lines.append(f"| {stage['name']} (from {pretext}) | {loss:.3f} | {top1:.3f} |")
    lines.append(f"| ensemble (mean of the teachers' class probabilities) | | {ensemble:.3f} |")
    return "\n".join(lines)


@torch.no_grad()
def ensemble_top1(run_dir: Path, teachers: list[str], data: dict[str, Any]) -> float:
    """Test top-1 of the mean class probabilities of the finished stages ``teachers`` (what the logits graph sees
    at tau 1, averaged)."""
    cfg = DataConfig.model_validate({**data, "augment": "none"})
    splits = load_splits(cfg)
    loader = eval_loader(splits.test, eval_transform(cfg.image_size, splits.mean, splits.std), cfg)
    models = [load_stage_model(run_dir / name).eval() for name in teachers]
    correct = total = 0
    for clips, labels, *_ in loader:
        probs = torch.stack([model(clips).softmax(-1) for model in models]).mean(0)
        correct += int((probs.argmax(-1) == labels).sum())
        total += len(labels)
    return correct / total


@torch.no_grad()
def model_costs(models: dict[str, dict[str, Any]], frames: int, size: int) -> str:
    """Parameters, single-clip latency (median of 30) and batch-32 inference throughput of each model."""
    lines = ["| model | parameters | clip latency (batch 1) | clips/s (batch 32) |", "| --- | --- | --- | --- |"]
    for label, spec in models.items():
        model = build_model(spec["arch"], 8, **spec.get("options", {})).eval()
        params = sum(p.numel() for p in model.parameters())
        one, batch = torch.randn(1, frames, 3, size, size), torch.randn(32, frames, 3, size, size)
        for _ in range(5):
            model(one)
        times = []
        for _ in range(30):
            start = time.perf_counter()
            model(one)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(5):
            model(batch)
        throughput = 5 * 32 / (time.perf_counter() - start)
        lines.append(f"| {label} | {params / 1e3:.0f}k | {1e3 * statistics.median(times):.2f} ms | {throughput:.0f} |")
    return "\n".join(lines)


def decoder_speed(video: dict[str, Any], workers: tuple[int, ...] = (0, 2)) -> str:
    """Clips/s of one pass over the training clips (no cache) for each decoder and worker count; ``video`` is the
    pipeline's ``data.video`` (frames, which moving digits)."""
    lines = ["| decoder | loader workers | clips/s |", "| --- | --- | --- |"]
    for decoder in ("decord", "pyav"):
        for count in workers:
            cfg = DataConfig(
                name="video",
                eval_batch_size=32,
                num_workers=count,
                video=video | {"decoder": decoder, "cache": False},
            )
            splits = load_splits(cfg)
            loader = eval_loader(splits.train, eval_transform(cfg.image_size, splits.mean, splits.std), cfg)
            start = time.perf_counter()
            clips = sum(len(batch[1]) for batch in loader)
            lines.append(f"| {decoder} | {count} | {clips / (time.perf_counter() - start):.0f} |")
    return "\n".join(lines)


def gap_text(summary: dict[str, Any]) -> str:
    """Both graphs minus alone, seed by seed: mean ± std and on how many seeds it is positive."""
    gaps = summary["paired_gaps"]
    wins = sum(gap > 0 for gap in gaps)
    return f"{mean_std(gaps, signed=True)}, positive on {wins} of {len(gaps)} seeds"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder of benchmarks/video_graph.yaml")
    parser.add_argument("--report", type=Path, default=None, help="markdown report (default: SWEEP_DIR/video_graph.md)")
    args = parser.parse_args()
    summary, runs = read_sweep(args.sweep_dir), complete_runs(args.sweep_dir)
    by_seed = {seed: run["results"] for seed, run in runs.items()}
    seeds = list(by_seed)
    first = run_folder(runs[seeds[0]])
    raw = yaml.safe_load(Path(summary["pipeline"]).read_text())
    adapted = [stage["name"] for stage in teacher_stages(raw) if stage["name"].startswith("adapt_")]
    teacher_metrics = by_seed[seeds[0]]
    best = max(adapted, key=lambda name: teacher_metrics[name]["test_top1"])
    kd_teacher = next(stage for stage in raw["stages"] if stage["name"] == "kd")["teacher"]["from"]
    table, result = accuracy_table(by_seed, kd_teacher)
    graph = next(stage for stage in raw["stages"] if stage["name"] == "both")
    teacher_spec = next(stage["model"] for stage in raw["stages"] if "arch" in stage.get("model", {}))
    video = raw["defaults"]["data"]["video"]
    costs = model_costs({"student": graph["student"], "teacher (each of 4)": teacher_spec}, video["frames"], 32)
    decoders = decoder_speed(video)
    baseline_label = next(label for label, stage in ROWS if stage == result["baseline"])
    minutes = max(stage_seconds(run) for run in runs.values()) / 60
    best_note = (
        f"The KD row's teacher, {kd_teacher}, is the adapted teacher with the best test top-1."
        if best == kd_teacher
        else f"NOTE: the KD row distils {kd_teacher}, but the best adapted teacher is now {best}."
    )
    report = "\n\n".join(
        [
            f"Seeds {seeds}; `ssl-kd sweep {Path(summary['pipeline']).name}` on a {hardware()}; the stages of one "
            f"seed's run (the shared teachers included) took {minutes:.1f} min when computed.",
            table,
            f"Δ is against the best student alone ({baseline_label}). "
            f"Both graphs vs alone: {result['gap_both_vs_alone']:+.3f}; two std = {result['two_std']:.3f}: "
            + ("beats the student alone by more than two std." if result["beats"] else "NOT more than two std.")
            + f" Paired by seed (same initialisation, order and augmentation): {gap_text(result)}. {best_note}",
            teacher_table(teacher_metrics, raw, ensemble_top1(first, adapted, raw["defaults"]["data"])),
            costs,
            decoders,
        ]
    )
    print(report)
    path = args.report or args.sweep_dir / "video_graph.md"
    path.write_text(report + "\n")


if __name__ == "__main__":
    main()

"""Video graph-distillation benchmark on the moving digits: students over several seeds, model costs, decoders.

Runs ``pipelines/video_graph_digits.yaml``'s teacher stages once (four pretext teachers, each adapted to the 8
target classes on the labelled clips), then, for every seed, seven students with the same architecture::

    alone, labelled clips      supervised CE on the labelled clips only (the adapt stages' data), same epochs
    alone, same steps          the same, for as many optimiser steps as the distilled students take
    alone, all clips           supervised CE with the graph stage's data: every training clip, the unlabelled
                               ones ignored (same steps as the distilled students)
    single frame               as "alone, labelled clips", on clips whose frames all equal the middle frame
    KD, best teacher           Hinton KD from the adapted teacher with the best test top-1, graph stage's data
    + logits graph             graph_distill, representation graph off
    + representation graph     graph_distill, logits graph off
    + both                     graph_distill (the pipeline's graph stage)

The distilled students and "alone, all clips" share the graph stage's data, epochs and labelled clips; the
criterion compares "both" with the best of the three "alone" rows. Seeds change the students' initialisation, batch
order and augmentation (``engine.seed``); the labelled subset and the teachers are shared. Then it times every
model (parameters, clip latency) and the decoders (clips/s for decord and PyAV with 0 and 2 loader workers), and
writes a markdown report::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.video_graph --seeds 0 1 2

Everything lives in ``--run-dir`` (default ``runs/video_graph_bench``), the report included, and is resumable: a
rerun skips finished stages. ``benchmarks/results/video_graph.md`` keeps the reports quoted in the README, with how
each was made.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std, seed_std
from ssl_kd.config import load_pipeline
from ssl_kd.config.schema import DataConfig
from ssl_kd.data import eval_loader, eval_transform, load_splits
from ssl_kd.models import build_model
from ssl_kd.scheduler import Scheduler
from ssl_kd.stages.base import load_stage_model

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipelines" / "video_graph_digits.yaml"
ROWS = [  # (label, stage prefix)
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
    """The pipeline's stages before ``graph``: the pretext teachers and their adaptation."""
    names = [stage["name"] for stage in raw["stages"]]
    return raw["stages"][: names.index("graph")]


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


def student_stages(
    graph: dict[str, Any], labelled: dict[str, Any], seed: int, best_teacher: str, steps_epochs: int
) -> list[dict]:
    """The eight students of one seed, all with the graph stage's student and epochs (data: see the docstring);
    ``steps_epochs`` (from :func:`matched_epochs`) on the labelled clips take as many steps as the graph stage."""
    common = {"kind": "train", "data": graph["data"], "epochs": graph["epochs"], "engine": {"seed": seed}}
    single = copy.deepcopy(labelled) | {"video": {"single_frame": True}}
    student = graph["student"]
    graph_keys = {k: v for k, v in graph.items() if k not in ("name", "data", "epochs")}
    return [
        {"name": f"alone_s{seed}", **common, "method": "supervised", "model": student, "data": labelled},
        {
            "name": f"alone_steps_s{seed}",
            **common,
            "method": "supervised",
            "model": student,
            "data": labelled,
            "epochs": steps_epochs,
        },
        {"name": f"alone_all_s{seed}", **common, "method": "supervised", "model": student},
        {"name": f"single_frame_s{seed}", **common, "method": "supervised", "model": student, "data": single},
        {
            "name": f"kd_s{seed}",
            **common,
            "method": "hinton_kd",
            "student": student,
            "teacher": {"from": best_teacher},
        },
        {"name": f"logits_s{seed}", **common, **graph_keys, "representation_graph": False},
        {"name": f"rep_s{seed}", **common, **graph_keys, "logits_graph": False},
        {"name": f"both_s{seed}", **common, **graph_keys},
    ]


def run(raw: dict[str, Any], run_dir: Path) -> dict[str, dict[str, Any]]:
    """Run a pipeline mapping through the scheduler; ``{stage: metrics}``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "bench_pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    outcomes = Scheduler(load_pipeline(path, ["engine.progress=false"]), run_dir).run()
    return {outcome.name: outcome.metrics for outcome in outcomes}


def accuracy_table(metrics: dict[str, dict[str, Any]], seeds: list[int], best: str) -> tuple[str, dict[str, Any]]:
    """The students' markdown table and a summary (means, stds, the two-std verdict against the better alone row)."""
    values = {prefix: [metrics[f"{prefix}_s{s}"]["test_top1"] for s in seeds] for _, prefix in ROWS}
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/video_graph_bench"))
    parser.add_argument("--report", type=Path, default=None, help="markdown report (default: <run-dir>/video_graph.md)")
    args = parser.parse_args()
    start = time.perf_counter()
    raw = yaml.safe_load(PIPELINE.read_text())
    raw["name"] = "video_graph_bench"
    graph = graph_stage(raw)
    teachers = teacher_stages(raw)
    metrics = run(raw | {"stages": teachers}, args.run_dir)
    adapted = [stage["name"] for stage in teachers if stage["name"].startswith("adapt_")]
    best = max(adapted, key=lambda name: metrics[name]["test_top1"])
    labelled = labelled_data(raw)
    matched = matched_epochs(raw)
    students = [stage for seed in args.seeds for stage in student_stages(graph, labelled, seed, best, matched)]
    metrics = run(raw | {"stages": teachers + students}, args.run_dir)
    minutes = (time.perf_counter() - start) / 60
    table, summary = accuracy_table(metrics, args.seeds, best)
    teacher_spec = next(stage["model"] for stage in teachers if "model" in stage and "arch" in stage["model"])
    video = raw["defaults"]["data"]["video"]
    costs = model_costs({"student": graph["student"], "teacher (each of 4)": teacher_spec}, video["frames"], 32)
    decoders = decoder_speed(video)
    baseline_label = next(label for label, prefix in ROWS if prefix == summary["baseline"])
    (args.run_dir / "video_graph.json").write_text(json.dumps({"seeds": args.seeds, "best": best, **summary}, indent=2))
    report = "\n\n".join(
        [
            f"Seeds {args.seeds}; this invocation took {minutes:.1f} min to train the stages not already complete in "
            f"{args.run_dir} on a {hardware()}.",
            table,
            f"Δ is against the best student alone ({baseline_label}). "
            f"Both graphs vs alone: {summary['gap_both_vs_alone']:+.3f}; two std = {summary['two_std']:.3f}: "
            + ("beats the student alone by more than two std." if summary["beats"] else "NOT more than two std.")
            + f" Paired by seed (same initialisation, order and augmentation): {gap_text(summary)}.",
            teacher_table(metrics, raw, ensemble_top1(args.run_dir, adapted, raw["defaults"]["data"])),
            costs,
            decoders,
        ]
    )
    print(report)
    path = args.report or args.run_dir / "video_graph.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report + "\n")


if __name__ == "__main__":
    main()

"""Video graph-distillation benchmark on the moving digits: students over several seeds, model costs, decoders.

Runs ``pipelines/video_graph_digits.yaml``'s teacher stages once (four pretext teachers, each adapted to the 8
motion classes), then, for every seed, six students with the same architecture, data and budget (``--epochs``,
default 10: a third of the pipeline's graph stage, so that the student alone stays clearly below the ceiling)::

    alone                      supervised CE
    single frame               the same, on clips whose frames all equal the middle frame
    KD, best teacher           Hinton KD from the adapted teacher with the best test top-1
    + logits graph             graph_distill, representation graph off
    + representation graph     graph_distill, logits graph off
    + both                     graph_distill (the pipeline's graph stage, at the budget)

and two references at the pipeline's budget (its graph stage's epochs): the student alone and both graphs. The
criterion compares "both" with "alone" at the same budget. Seeds change the students' initialisation, batch order
and augmentation (``engine.seed``); the teachers are shared. Then it times every model (parameters, clip latency)
and the decoders (clips/s for decord and PyAV with 0 and 2 loader workers), and writes a markdown report::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.video_graph --seeds 0 1 2

Everything lives in ``--run-dir`` (default ``runs/video_graph_bench``) and is resumable: a rerun skips finished
stages.
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

from benchmarks.seed_stats import mean_std, seed_std
from ssl_kd.config import load_pipeline
from ssl_kd.config.schema import DataConfig
from ssl_kd.data import eval_loader, eval_transform, load_splits
from ssl_kd.models import build_model
from ssl_kd.scheduler import Scheduler
from ssl_kd.stages.base import load_stage_model

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipelines" / "video_graph_digits.yaml"
REPORT = REPO / "benchmarks" / "results" / "video_graph.md"
BUDGET_EPOCHS = 10
ROWS = [  # (label, stage prefix): the students at the benchmark's budget
    ("student alone", "alone"),
    ("single frame (no motion)", "single_frame"),
    ("student + KD, best single teacher", "kd"),
    ("student + logits graph", "logits"),
    ("student + representation graph", "rep"),
    ("student + both graphs", "both"),
]
REFERENCE_ROWS = [  # the same students at the pipeline's budget
    ("student alone", "alone_full"),
    ("student + both graphs", "both_full"),
]


def teacher_stages(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline's stages before ``graph``: the pretext teachers and their adaptation."""
    names = [stage["name"] for stage in raw["stages"]]
    return raw["stages"][: names.index("graph")]


def graph_stage(raw: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's ``graph`` stage: the student, data and settings every benchmark student shares."""
    return next(stage for stage in raw["stages"] if stage["name"] == "graph")


def student_stages(graph: dict[str, Any], seed: int, best_teacher: str, epochs: int) -> list[dict[str, Any]]:
    """The six students of one seed at ``epochs``, then the two references at the graph stage's epochs; all with
    the graph stage's student and data."""
    data = graph.get("data", {})
    common = {"kind": "train", "data": data, "epochs": epochs, "engine": {"seed": seed}}
    student = graph["student"]
    graph_keys = {k: v for k, v in graph.items() if k not in ("name", "data", "epochs")}
    alone = {"name": f"alone_s{seed}", **common, "method": "supervised", "model": student}
    both = {"name": f"both_s{seed}", **common, **graph_keys}
    return [
        alone,
        alone | {"name": f"single_frame_s{seed}", "data": copy.deepcopy(data) | {"video": {"single_frame": True}}},
        {
            "name": f"kd_s{seed}",
            **common,
            "method": "hinton_kd",
            "student": student,
            "teacher": {"from": best_teacher},
        },
        both | {"name": f"logits_s{seed}", "representation_graph": False},
        both | {"name": f"rep_s{seed}", "logits_graph": False},
        both,
        alone | {"name": f"alone_full_s{seed}", "epochs": graph["epochs"]},
        both | {"name": f"both_full_s{seed}", "epochs": graph["epochs"]},
    ]


def run(raw: dict[str, Any], run_dir: Path) -> dict[str, dict[str, Any]]:
    """Run a pipeline mapping through the scheduler; ``{stage: metrics}``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "bench_pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    outcomes = Scheduler(load_pipeline(path, ["engine.progress=false"]), run_dir).run()
    return {outcome.name: outcome.metrics for outcome in outcomes}


def stage_seconds(run_dir: Path, name: str) -> float:
    """Wall time of a finished stage's training run (recorded in its ``state.json``, so reused stages keep it)."""
    return json.loads((run_dir / name / "state.json").read_text())["seconds"]


def accuracy_table(
    metrics: dict[str, dict[str, Any]], seeds: list[int], best: str, epochs: dict[str, int], run_dir: Path
) -> tuple[str, dict[str, Any]]:
    """The students' markdown table (``epochs``: budget per row prefix) and a summary: means, stds and the two-std
    verdict of both graphs against the student alone at the same budget."""
    values = {prefix: [metrics[f"{prefix}_s{s}"]["test_top1"] for s in seeds] for _, prefix in ROWS + REFERENCE_ROWS}
    lines = [
        "| student (R(2+1)D, width 8) | epochs | test top-1 | Δ vs alone | stage time | per seed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, prefix in ROWS + REFERENCE_ROWS:
        reference = "alone_full" if prefix.endswith("_full") else "alone"
        delta = statistics.mean(values[prefix]) - statistics.mean(values[reference])
        seconds = statistics.mean(stage_seconds(run_dir, f"{prefix}_s{s}") for s in seeds)
        seeds_text = ", ".join(f"{v:.3f}" for v in values[prefix])
        shown = label.replace("best single teacher", f"best single teacher ({best})")
        lines.append(
            f"| {shown} | {epochs[prefix]} | {mean_std(values[prefix])} | {delta:+.3f} | {seconds:.0f} s "
            f"| {seeds_text} |"
        )
    alone, both = values["alone"], values["both"]
    gap = statistics.mean(both) - statistics.mean(alone)
    two_std = 2 * max(seed_std(alone), seed_std(both))
    paired = [with_graphs - solo for with_graphs, solo in zip(both, alone, strict=True)]  # same init and order
    summary = {
        "top1": values,
        "gap_both_vs_alone": gap,
        "two_std": two_std,
        "beats": gap > two_std,
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


def decoder_speed(frames: int, workers: tuple[int, ...] = (0, 2)) -> str:
    """Clips/s of one pass over the training clips (no cache) for each decoder and worker count."""
    lines = ["| decoder | loader workers | clips/s |", "| --- | --- | --- |"]
    for decoder in ("decord", "pyav"):
        for count in workers:
            cfg = DataConfig(
                name="video",
                eval_batch_size=32,
                num_workers=count,
                video={"frames": frames, "decoder": decoder, "cache": False},
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
    parser.add_argument("--epochs", type=int, default=BUDGET_EPOCHS, help="each student's budget (%(default)s)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/video_graph_bench"))
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    start = time.perf_counter()
    raw = yaml.safe_load(PIPELINE.read_text())
    raw["name"] = "video_graph_bench"
    graph = graph_stage(raw)
    teachers = teacher_stages(raw)
    metrics = run(raw | {"stages": teachers}, args.run_dir)
    adapted = [stage["name"] for stage in teachers if stage["name"].startswith("adapt_")]
    best = max(adapted, key=lambda name: metrics[name]["test_top1"])
    students = [stage for seed in args.seeds for stage in student_stages(graph, seed, best, args.epochs)]
    metrics = run(raw | {"stages": teachers + students}, args.run_dir)
    minutes = (time.perf_counter() - start) / 60
    epochs = {prefix: args.epochs for _, prefix in ROWS} | {prefix: graph["epochs"] for _, prefix in REFERENCE_ROWS}
    table, summary = accuracy_table(metrics, args.seeds, best, epochs, args.run_dir)
    teacher_spec = next(stage["model"] for stage in teachers if "model" in stage and "arch" in stage["model"])
    frames = raw["defaults"]["data"]["video"]["frames"]
    costs = model_costs({"student": graph["student"], "teacher (each of 4)": teacher_spec}, frames, 32)
    decoders = decoder_speed(frames)
    (args.run_dir / "video_graph.json").write_text(
        json.dumps({"seeds": args.seeds, "epochs": args.epochs, "best": best, **summary}, indent=2)
    )
    report = "\n\n".join(
        [
            f"Seeds {args.seeds}; this invocation took {minutes:.1f} min to train the stages not already complete in "
            f"{args.run_dir} on a 2-core x86_64 CPU, no GPU.",
            table,
            f"Δ is against the student alone with the same epochs. Both graphs vs alone at {args.epochs} epochs: "
            f"{summary['gap_both_vs_alone']:+.3f}; two std = {summary['two_std']:.3f}: "
            + ("beats the student alone by more than two std." if summary["beats"] else "NOT more than two std.")
            + f" Paired by seed (same initialisation, order and augmentation): {gap_text(summary)}."
            " Stage time: wall time of one student's stage (mean over seeds; teacher forward passes included).",
            teacher_table(metrics, raw, ensemble_top1(args.run_dir, adapted, raw["defaults"]["data"])),
            costs,
            decoders,
        ]
    )
    print(report)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report + "\n")


if __name__ == "__main__":
    main()

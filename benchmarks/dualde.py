"""DualDE benchmark: teacher, student alone, plain soft-label KD, DualDE stage 1 only and both stages, over seeds.

The runs are one sweep of ``benchmarks/dualde.yaml`` (``pipelines/dualde_umls.yaml`` plus the plain-KD and
matched-budget rows; ``engine.seed`` per seed, and optionally a grid over ``data.name``). This script formats a
markdown report per knowledge graph: filtered MRR and Hits@1/3/10 (mean ± sample std over seeds, and each row's
paired difference to the student alone), embedding parameters, and the scoring speed of teacher against student
(all-entity tail scoring of the test triples in batches of 256, triples/s, and the median latency of one query),
measured here on the first seed's models::

    .venv/bin/ssl-kd sweep benchmarks/dualde.yaml --seeds 0 1 2 --grid data.name=umls,kinships
    .venv/bin/python -m benchmarks.dualde runs/sweeps/dualde_benchmark --out benchmarks/results/dualde.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std
from benchmarks.sweep_results import complete_records, read_sweep, run_folder
from ssl_kd.config import load_pipeline
from ssl_kd.kg.triples import load_bundled_kg
from ssl_kd.models.saved import load_saved_model

ROWS = [  # (label, stage)
    ("teacher (RotatE 512-d, 10 epochs)", "teacher"),
    ("student alone (RotatE 32-d, 4 epochs)", "student_alone"),
    ("student + plain soft-label KD (4 epochs)", "plain_kd"),
    ("DualDE stage 1 (4 epochs; the pipeline's dualde_stage1)", "dualde_stage1"),
    ("DualDE both stages, matched budget (2 + 2 epochs)", "both_half"),
    ("DualDE both stages (4 + 2 epochs; the pipeline's dualde)", "dualde"),
]
METRICS = [("MRR", "test_mrr"), ("H@1", "test_hits_at_1"), ("H@3", "test_hits_at_3"), ("H@10", "test_hits_at_10")]


@torch.inference_mode()
def scoring_speed(stage_dir: Path, kg: str, repeats: int = 3) -> tuple[float, float]:
    """(all-entity tail scoring of the test triples, triples/s; median batch-1 latency, ms) of a stage's model."""
    model, _ = load_saved_model(stage_dir)
    model.eval()
    test = load_bundled_kg(kg).test
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for begin in range(0, len(test), 256):
            model.score_tails(test[begin : begin + 256, 0], test[begin : begin + 256, 1])
        rates.append(len(test) / (time.perf_counter() - start))
    latencies = []
    for row in test[:200]:
        start = time.perf_counter()
        model.score_tails(row[:1], row[1:2])
        latencies.append(time.perf_counter() - start)
    return statistics.median(rates), 1000 * statistics.median(latencies)


def runs_by_graph(sweep_dir: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """Knowledge graph -> seed -> the record of its complete run in ``sweep.json`` (the graph: the run's
    ``data.name`` override, else the pipeline's own)."""
    summary = read_sweep(sweep_dir)
    runs = complete_records(sweep_dir, summary)
    default = load_pipeline(Path(summary["pipeline"])).stages[0].data.name
    graphs: dict[str, dict[int, dict[str, Any]]] = {}
    for run in runs:
        names = [item.split("=", 1)[1] for item in run["overrides"] if item.startswith("data.name=")]
        graphs.setdefault(names[-1] if names else default, {})[run["seed"]] = run
    return {kg: dict(sorted(by_seed.items())) for kg, by_seed in graphs.items()}


def report(results: dict[str, dict[int, dict[str, dict]]], speed: dict[str, dict[str, tuple]], seeds: list[int]) -> str:
    lines = [
        "# DualDE benchmark",
        "",
        f"Machine: {hardware()}. Seeds {', '.join(map(str, seeds))} (`engine.seed`: initialisation, batch order,",
        "negatives). Filtered ranking on both sides of every test triple, realistic ranks for ties; mean ± sample std",
        "over seeds; Δ: the row minus the student alone, paired by seed (mean ± std).",
        "",
    ]
    for kg, by_seed in results.items():
        lines += [f"## {kg}", "", "| row | " + " | ".join(name for name, _ in METRICS) + " | Δ MRR vs alone |"]
        lines.append("| --- |" + " --- |" * (len(METRICS) + 1))
        for label, stage in ROWS:
            if any(stage not in by_seed[s] for s in seeds):
                lines.append(f"| {label} | not run on every seed |" + " |" * len(METRICS))
                continue
            cells = [mean_std([by_seed[s][stage][key] for s in seeds]) for _, key in METRICS]
            delta = [by_seed[s][stage]["test_mrr"] - by_seed[s]["student_alone"]["test_mrr"] for s in seeds]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean_std(delta, signed=True)} |")
        teacher, student = speed[kg]["teacher"], speed[kg]["student_alone"]  # every 32-d RotatE scores alike
        lines += [
            "",
            f"Embedding parameters: teacher {teacher[2]:,}, student {student[2]:,} ({teacher[2] / student[2]:.1f}x "
            "fewer).",
            f"All-entity scoring (seed {seeds[0]}): teacher {teacher[0]:,.0f} triples/s, student {student[0]:,.0f} "
            f"({student[0] / teacher[0]:.1f}x faster); batch-1 latency {teacher[1]:.2f} ms vs {student[1]:.2f} ms "
            f"({teacher[1] / student[1]:.1f}x).",
            "",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder of benchmarks/dualde.yaml")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    results: dict[str, dict[int, dict[str, dict]]] = {}
    speed: dict[str, dict[str, tuple]] = {}
    seeds: list[int] = []
    for kg, runs in runs_by_graph(args.sweep_dir).items():
        results[kg] = {seed: run["results"] for seed, run in runs.items()}
        seeds = seeds or list(runs)
        first = run_folder(next(iter(runs.values())))  # the first seed's
        speed[kg] = {}
        for stage in ("teacher", "student_alone"):
            model, _ = load_saved_model(first / stage)
            speed[kg][stage] = (*scoring_speed(first / stage, kg), model.embedding_parameters)
    text = report(results, speed, seeds)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

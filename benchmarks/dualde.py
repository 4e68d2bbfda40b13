"""DualDE benchmark: teacher, student alone, plain soft-label KD, DualDE stage 1 only and both stages, over seeds.

Runs ``pipelines/dualde_umls.yaml`` plus two extra rows (plain KD and stage 1 alone, each on the student's budget)
once per knowledge graph and seed through the same scheduler as ``ssl-kd run``, then writes a markdown report of
filtered MRR and Hits@1/3/10 (mean ± sample std over seeds, and each row's paired difference to the student alone),
embedding parameters, and the scoring speed of teacher against student (all-entity tail scoring of the test triples
in batches of 256, triples/s, and the median latency of one query)::

    .venv/bin/python -m benchmarks.dualde --kgs umls kinships --seeds 0 1 2

Every run lives in ``RUN_DIR/<kg>/seed<k>`` and is resumable: rerunning skips finished stages.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std
from ssl_kd.config import load_pipeline
from ssl_kd.kg.triples import load_bundled_kg
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import Scheduler

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "dualde_umls.yaml"
STUDENT = {"arch": "rotate", "options": {"dim": 32, "gamma": 8.0}}
EXTRA_STAGES = [  # on the student's 4-epoch budget, like student_alone
    {"name": "plain_kd", "method": "dualde", "soft_weight": "constant", "cosine_weight": 0.0, "norm_weight": 0.0,
     "student": STUDENT, "teacher": {"from": "teacher"}, "epochs": 4},
    {"name": "s1_half", "method": "dualde", "student": STUDENT, "teacher": {"from": "teacher"}, "epochs": 2},
    {"name": "both_half", "method": "dualde", "stage": 2, "student": {"from": "s1_half"},
     "teacher": {"from": "teacher"}, "epochs": 2},
]  # fmt: skip
ROWS = [  # (label, stage)
    ("teacher (RotatE 512-d, 10 epochs)", "teacher"),
    ("student alone (RotatE 32-d, 4 epochs)", "student_alone"),
    ("student + plain soft-label KD (4 epochs)", "plain_kd"),
    ("DualDE stage 1 (4 epochs; the pipeline's dualde_stage1)", "dualde_stage1"),
    ("DualDE both stages, matched budget (2 + 2 epochs)", "both_half"),
    ("DualDE both stages (4 + 2 epochs; the pipeline's dualde)", "dualde"),
]
METRICS = [("MRR", "test_mrr"), ("H@1", "test_hits_at_1"), ("H@3", "test_hits_at_3"), ("H@10", "test_hits_at_10")]


def run_seed(kg: str, seed: int, run_dir: Path) -> dict[str, dict]:
    """Run every row for one graph and seed; return ``{stage: metrics}``."""
    raw = yaml.safe_load(PIPELINE.read_text())
    raw["stages"] += EXTRA_STAGES
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "benchmark_pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    overrides = [f"data.name={kg}", f"engine.seed={seed}", "engine.progress=false"]
    pipeline = load_pipeline(path, overrides)
    return {outcome.name: outcome.metrics for outcome in Scheduler(pipeline, run_dir).run()}


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


def read_results(run_dir: Path) -> dict[str, dict]:
    """``{stage: metrics}`` of one finished seed folder, from each stage's ``metrics.json``."""
    return {
        path.parent.name: json.loads(path.read_text())
        for path in sorted(run_dir.glob("*/metrics.json"))
        if not path.parent.name.endswith(".previous")
    }


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kgs", nargs="+", default=["umls", "kinships"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/bench_dualde"))
    parser.add_argument("--out", type=Path, help="report file (default: RUN_DIR/dualde.md)")
    parser.add_argument("--report-only", action="store_true", help="tabulate the finished runs in RUN_DIR, run none")
    args = parser.parse_args()
    results: dict[str, dict[int, dict[str, dict]]] = {}
    speed: dict[str, dict[str, tuple]] = {}
    for kg in args.kgs:
        folders = {seed: args.run_dir / kg / f"seed{seed}" for seed in args.seeds}
        if args.report_only:
            results[kg] = {seed: read_results(folder) for seed, folder in folders.items()}
        else:
            results[kg] = {seed: run_seed(kg, seed, folder) for seed, folder in folders.items()}
        first = folders[args.seeds[0]]
        speed[kg] = {}
        for stage in ("teacher", "student_alone"):
            model, _ = load_saved_model(first / stage)
            speed[kg][stage] = (*scoring_speed(first / stage, kg), model.embedding_parameters)
    text = report(results, speed, args.seeds)
    out = args.out or args.run_dir / "dualde.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    (args.run_dir / "dualde.json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()

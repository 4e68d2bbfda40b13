"""CPF benchmark: GNN teachers (GCN, GAT, APPNP) -> CPF-ind / CPF-tra students, and two ablations, over seeds.

The runs are one sweep of ``benchmarks/cpf.yaml`` (``pipelines/cpf_digits_graph.yaml`` plus the ablations of the GCN
teacher's CPF-ind student: label propagation only, feature MLP only; each seed sets ``engine.seed`` and
``data.split_seed``), and the regime grid one sweep of ``benchmarks/cpf_pilot.yaml`` on pilot seed 10. This script
formats the markdown report: test node accuracy (mean ± sample std over seeds), each student's paired difference to
its teacher (mean ± std over seeds) with the verdict "beats its teacher by more than two standard deviations", the
pilot grid, and the parameters and full-graph inference time (median of repeats) of teachers and students, measured
here on the first seed's models::

    .venv/bin/ssl-kd sweep benchmarks/cpf.yaml --seeds 0 1 2 --jobs 2
    .venv/bin/ssl-kd sweep benchmarks/cpf_pilot.yaml --seeds 10
    .venv/bin/python -m benchmarks.cpf runs/sweeps/cpf_benchmark --pilot runs/sweeps/cpf_pilot \\
        --out benchmarks/results/cpf.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std, seed_std
from benchmarks.sweep_results import complete_runs, read_sweep, run_folder
from ssl_kd.config import Pipeline, load_pipeline
from ssl_kd.graph.domain import NodeClassification
from ssl_kd.graph.methods.base import inputs_of
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import semantic_config

TEACHERS = [("GCN", "gcn"), ("GAT", "gat"), ("APPNP", "appnp")]
STUDENTS = [  # (label, stage, teacher stage)
    *((f"CPF-ind from {label}", f"cpf_ind_{stage}", stage) for label, stage in TEACHERS),
    *((f"CPF-tra from {label}", f"cpf_tra_{stage}", stage) for label, stage in TEACHERS),
    ("label propagation only (PLP, from GCN)", "plp_only_gcn", "gcn"),
    ("feature MLP only (FT, from GCN)", "ft_only_gcn", "gcn"),
]
PILOT_BASE = "code_defaults"
"""The pilot setting every other one changes one thing of: CPF's code defaults."""


@torch.inference_mode()
def scoring_cost(run_dir: Path, stage: str, repeats: int = 20) -> tuple[int, float]:
    """(parameters, median milliseconds of one full-graph forward in eval mode) of a stage's model."""
    model, _ = load_saved_model(run_dir / stage)
    model.eval()
    cfg = load_pipeline(run_dir / "pipeline.yaml").stage(stage)
    inputs = inputs_of(NodeClassification().load(cfg).splits)
    model(inputs)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(inputs)
        times.append(time.perf_counter() - start)
    return sum(p.numel() for p in model.parameters()), 1000 * statistics.median(times)


def verdict(deltas: list[float]) -> str:
    """Whether the mean paired gain exceeds two sample standard deviations of the gains."""
    mean, std = statistics.mean(deltas), seed_std(deltas)
    if mean > 2 * std and mean > 0:
        return "yes"
    return "no" if mean <= 0 else "no (gain within 2 std)"


def accuracy_table(by_seed: dict[int, dict[str, dict]], seeds: list[int]) -> list[str]:
    lines = [
        "| model | test accuracy | Δ vs its teacher (points, paired) | beats teacher by > 2 std? | stopped epochs |",
        "| --- | --- | --- | --- | --- |",
    ]

    def stopped(stage: str) -> str:
        return "/".join(str(by_seed[s][stage].get("stopped_epoch", "-")) for s in seeds)

    for label, stage in TEACHERS:
        if all(stage in by_seed[s] for s in seeds):
            values = [by_seed[s][stage]["test_accuracy"] for s in seeds]
            lines.append(f"| {label} teacher | {mean_std(values)} | | | {stopped(stage)} |")
    for label, stage, teacher in STUDENTS:
        if any(stage not in by_seed[s] or teacher not in by_seed[s] for s in seeds):
            lines.append(f"| {label} | not run on every seed | | | |")
            continue
        values = [by_seed[s][stage]["test_accuracy"] for s in seeds]
        deltas = [by_seed[s][stage]["test_accuracy"] - by_seed[s][teacher]["test_accuracy"] for s in seeds]
        points = f"{100 * statistics.mean(deltas):+.2f} ± {100 * seed_std(deltas):.2f}"
        lines.append(f"| {label} | {mean_std(values)} | {points} | {verdict(deltas)} | {stopped(stage)} |")
    return lines


def gcn_verdict(by_seed: dict[int, dict[str, dict]], seeds: list[int]) -> list[str]:
    """The acceptance question in words: does CPF beat its GCN teacher by more than two standard deviations?"""
    lines = []
    for label, stage in (("CPF-ind", "cpf_ind_gcn"), ("CPF-tra", "cpf_tra_gcn")):
        if not seeds or any(stage not in by_seed[s] or "gcn" not in by_seed[s] for s in seeds):
            continue
        deltas = [by_seed[s][stage]["test_accuracy"] - by_seed[s]["gcn"]["test_accuracy"] for s in seeds]
        mean, std = statistics.mean(deltas), seed_std(deltas)
        answer = "beats" if verdict(deltas) == "yes" else "does not beat"
        lines.append(
            f"- {label} {answer} its GCN teacher by more than two standard deviations: Δ = {100 * mean:+.2f} ± "
            f"{100 * std:.2f} points over {len(seeds)} seeds (the paper: +1.4 to +4.7 points on average)."
        )
    return [*lines, ""] if lines else []


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{dotted.key: value}`` of a nested config."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(leaves(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def pilot_settings(pipeline: Pipeline) -> dict[str, tuple[str, str, str]]:
    """Setting -> (teacher, CPF-ind, CPF-tra stage) of a pilot pipeline (students ``cpf_ind_S``, ``cpf_tra_S``)."""
    settings = {}
    for stage in pipeline.stages:
        if stage.name.startswith("cpf_ind_"):
            setting = stage.name.removeprefix("cpf_ind_")
            settings[setting] = (stage.teacher.from_, stage.name, f"cpf_tra_{setting}")
    return settings


def setting_changes(pipeline: Pipeline, setting: str) -> str:
    """What the setting's CPF-ind student changes from the base setting's, as ``key=value`` cells (its teacher is
    the table's GCN column)."""
    base = leaves(semantic_config(pipeline.stage(f"cpf_ind_{PILOT_BASE}")))
    mine = leaves(semantic_config(pipeline.stage(f"cpf_ind_{setting}")))
    changed = [
        f"`{key}={value}`"
        for key, value in mine.items()
        if key != "name" and not key.startswith("teacher.") and base.get(key) != value
    ]
    return ", ".join(changed) or "(CPF's code defaults)"


def pilot_table(pilot_dir: Path) -> list[str]:
    """The regime grid: per setting, the test and best validation accuracy of the teacher and both students."""
    summary = read_sweep(pilot_dir)
    (seed, record), *_ = complete_runs(pilot_dir).items()
    results, pipeline = record["results"], load_pipeline(Path(summary["pipeline"]))
    lines = [
        f"## Pilot seed {seed}: the regime grid (GCN -> CPF only)",
        "",
        f"`ssl-kd sweep benchmarks/cpf_pilot.yaml --seeds {seed}`: test and best validation accuracy of each setting;",
        "the changes are those of the setting's students from CPF's code defaults (the k settings also train their own",
        "GCN teacher on their graph).",
        "",
        "| setting | changes | GCN | CPF-ind | CPF-tra | GCN val | CPF-ind val | CPF-tra val |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for setting, stages in pilot_settings(pipeline).items():
        cells = [f"{results[s]['test_accuracy']:.3f}" if s in results else "-" for s in stages]
        vals = [f"{results[s]['best_val_accuracy']:.3f}" if s in results else "-" for s in stages]
        lines.append(f"| {setting} | {setting_changes(pipeline, setting)} | " + " | ".join(cells + vals) + " |")
    return [*lines, ""]


def report(
    results: dict[int, dict[str, dict]], cost: dict[str, tuple[int, float]], seeds: list[int], pilot: list[str]
) -> str:
    lines = [
        "# CPF benchmark",
        "",
        f"Machine: {hardware()}. Graph: `digits_graph` (scikit-learn's 1,797 digits, symmetric 10-NN graph over the",
        "pixels), CPF's split (20 labelled + 30 validation nodes per class, 1,297 test nodes). Seeds "
        f"{', '.join(map(str, seeds))}: each seed sets the initialisation (`engine.seed`) and the labelled /",
        "validation draw (`data.split_seed`). Test node accuracy, mean ± sample std over seeds; Δ: the student minus",
        "its own teacher, paired by seed (mean ± std); 'beats by > 2 std': the mean Δ exceeds twice the std of the Δs.",
        "Every stage early-stops on validation accuracy (best state kept; patience 50 for teachers, 100 for students);",
        "stopped epochs per seed. Δ in accuracy points (0.01 accuracy = 1 point).",
        "",
        *accuracy_table(results, seeds),
        "",
        *gcn_verdict(results, seeds),
    ]
    if cost:
        lines += [
            f"Scoring cost (seed {seeds[0]}; one full-graph forward in eval mode, median of 20; compare within the "
            "table only):",
            "",
            "| model | parameters | forward ms |",
            "| --- | --- | --- |",
            *(f"| {stage} | {params:,} | {ms:.2f} |" for stage, (params, ms) in cost.items()),
            "",
        ]
    return "\n".join([*lines, *pilot]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder of benchmarks/cpf.yaml")
    parser.add_argument("--pilot", type=Path, help="a sweep folder of benchmarks/cpf_pilot.yaml (its table follows)")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    runs = complete_runs(args.sweep_dir)
    results = {seed: run["results"] for seed, run in runs.items()}
    seeds = list(results)
    first = run_folder(runs[seeds[0]])
    stages = [stage for _, stage in TEACHERS] + ["cpf_ind_gcn", "cpf_tra_gcn"]
    cost = {stage: scoring_cost(first, stage) for stage in stages if (first / stage / "model.pt").is_file()}
    text = report(results, cost, seeds, pilot_table(args.pilot) if args.pilot else []) + NOTES
    print(text)
    if args.out:
        args.out.write_text(text)


NOTES = """## How this was made and how the regime was chosen

The tables come from two sweeps, one thread per run, with the CPU kernels every x86_64 CPU with AVX-512 also has
(`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`), formatted by this script:
`OMP_NUM_THREADS=2 ssl-kd sweep benchmarks/cpf.yaml --seeds 0 1 2 --jobs 2` (3 runs x 11 stages in 4 min) and
`OMP_NUM_THREADS=1 ssl-kd sweep benchmarks/cpf_pilot.yaml --seeds 10` (19 stages, one GCN teacher shared by the six
k = 10 settings). Both equal, in every accuracy, validation accuracy and stopped-epoch cell, the tables this file held
before, which a per-seed script made on 2026-12-02 (the same stages, each seed's run in its own folder). The forward
times were measured again on the quiet machine and are lower than that earlier, contended measurement.

The regime was chosen on pilot seed 10 only (split and initialisation), GCN teacher -> CPF-ind / CPF-tra, by the
students' mean best *validation* accuracy (test accuracy is shown but was not used). Every setting starts from CPF's
code defaults (k = 10 here, students' feature / attention dropout 0.6, patience 50, lr 0.01, K = 10) and changes one
thing: with the code's patience 50 the CPF-ind student stopped at epoch 52 keeping its epoch-2 state (label
propagation alone scores well from the start; validation accuracy then dips for about 70 epochs while the feature MLP
learns), so every other setting uses patience 100 for the students. Among those, dropout 0.2 and dropout 0 tied on
validation (0.980); 0.2, the nearer to the code's 0.6, was kept. k = 5 and k = 20 lowered the teacher's and the
students' validation accuracy; lr 0.05 and K = 5 did not beat lr 0.01 and K = 10. The teachers keep CPF's code
settings (GCN hidden 64, dropout 0.8; GAT 8 x 8 heads, dropout 0.6; APPNP hidden 64, dropout 0.5, alpha 0.1, K 10),
lr 0.01, weight decay 0.01, patience 50. The ablations use the CPF-ind students' settings.

Cora, Citeseer and Pubmed were not run: their files are not on this machine (the pipeline reads them with
`data.name=planetoid data.root=... data.graph=Cora`, tested on a hand-written fixture in Planetoid's raw format).

Label propagation alone (the PLP ablation) is the one row that clearly beats the GCN teacher (+1.7 points, more than
two standard deviations), and it does so with its state from epoch 1: validation accuracy never improved on the
nearly untrained propagation (confidences near their random initialisation, so close to plain label propagation
from the 200 labelled nodes), and distillation towards the teacher only pulled it down. The full CPF students, whose
gates let the feature MLP in, end where their teachers are. So on this graph the structure prior is what helps, and
fitting the teacher's predictions trades it away.

Why the student does not go beyond its teacher here: on the digits kNN graph the GCN teacher is already at about
0.97 test accuracy, and the label-propagation prior alone is strong on this very homophilous graph, so there is little
room left; the students match their teachers within a fraction of a point instead of gaining the paper's 1.4 to 4.7.
Scoring cost does not favour the student either on this graph: with one gate per node and one MLP as wide as the
GCN's, CPF has more parameters than the 2-layer GCN and its 10 propagation steps make a full-graph forward slower.
"""

if __name__ == "__main__":
    main()

"""CPF benchmark: GNN teachers (GCN, GAT, APPNP) -> CPF-ind / CPF-tra students, and two ablations, over seeds.

Runs ``pipelines/cpf_digits_graph.yaml`` plus the ablations of the GCN teacher's CPF-ind student (label propagation
only, feature MLP only) once per seed through the same scheduler as ``ssl-kd run``; the seed sets both the
initialisation (``engine.seed``) and the labelled / validation draw (``data.split_seed``). Then writes a markdown
report: test node accuracy (mean ± sample std over seeds), each student's paired difference to its teacher (mean ±
std over seeds) with the verdict "beats its teacher by more than two standard deviations", parameters and the
full-graph inference time (median of repeats) of teachers and students::

    .venv/bin/python -m benchmarks.cpf --seeds 0 1 2
    .venv/bin/python -m benchmarks.cpf --pilot            # the regime grid on pilot seed 10 (GCN -> CPF only)

Every run lives in ``RUN_DIR/seed<k>`` (pilot: ``RUN_DIR/pilot/<setting>``) and is resumable: rerunning skips
finished stages. ``--report-only`` tabulates the finished runs without running any.
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
from benchmarks.seed_stats import mean_std, seed_std
from ssl_kd.config import load_pipeline
from ssl_kd.graph.domain import NodeClassification
from ssl_kd.graph.methods.base import inputs_of
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import Scheduler

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "cpf_digits_graph.yaml"
ABLATION = {"feat_dropout": 0.2, "attn_dropout": 0.2}  # as the pipeline's CPF-ind students
EXTRA_STAGES = [
    {"name": f"{variant}_gcn", "method": "cpf", "student": {"arch": "cpf", "options": {"variant": variant, **ABLATION}},
     "teacher": {"from": "gcn"}, "early_stopping": {"metric": "val_accuracy", "patience": 100}}
    for variant in ("plp_only", "ft_only")
]  # fmt: skip
TEACHERS = [("GCN", "gcn"), ("GAT", "gat"), ("APPNP", "appnp")]
STUDENTS = [  # (label, stage, teacher stage)
    *((f"CPF-ind from {label}", f"cpf_ind_{stage}", stage) for label, stage in TEACHERS),
    *((f"CPF-tra from {label}", f"cpf_tra_{stage}", stage) for label, stage in TEACHERS),
    ("label propagation only (PLP, from GCN)", "plp_only_gcn", "gcn"),
    ("feature MLP only (FT, from GCN)", "ft_only_gcn", "gcn"),
]
PILOT_SEED = 10
PILOT_STAGES = ("gcn", "cpf_ind_gcn", "cpf_tra_gcn")


def _students(*settings: str) -> list[str]:
    """Overrides of both pilot students (``key=value`` under their stage)."""
    return [f"{stage}.{setting}" for setting in settings for stage in PILOT_STAGES[1:]]


CODE_DEFAULTS = _students(
    "student.options.feat_dropout=0.6", "student.options.attn_dropout=0.6", "early_stopping.patience=50"
)
"""The students' settings of CPF's code, under every pilot setting (the pipeline now ships the pilot's choice)."""
PILOT_GRID: dict[str, list[str]] = {  # setting -> overrides after CODE_DEFAULTS; each runs the three PILOT_STAGES
    "cpf_defaults": [],
    "patience100": _students("early_stopping.patience=100"),
    "knn5": ["data.knn=5", *_students("early_stopping.patience=100")],
    "knn20": ["data.knn=20", *_students("early_stopping.patience=100")],
    "dropout0.2": _students(
        "early_stopping.patience=100", "student.options.feat_dropout=0.2", "student.options.attn_dropout=0.2"
    ),
    "dropout0": _students(
        "early_stopping.patience=100", "student.options.feat_dropout=0.0", "student.options.attn_dropout=0.0"
    ),
    "lr0.05": _students("early_stopping.patience=100", "optim.lr=0.05"),
    "K5": _students("early_stopping.patience=100", "student.options.steps=5"),
}


def run_pipeline(run_dir: Path, seed: int, stages: list[dict], overrides: list[str]) -> dict[str, dict]:
    """Run ``stages`` of the shipped pipeline (plus the ablations) for one seed; return ``{stage: metrics}``."""
    raw = yaml.safe_load(PIPELINE.read_text())
    raw["stages"] = stages
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "benchmark_pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    seeds = [f"engine.seed={seed}", f"data.split_seed={seed}", "engine.progress=false"]
    pipeline = load_pipeline(path, seeds + overrides)
    return {outcome.name: outcome.metrics for outcome in Scheduler(pipeline, run_dir).run()}


def all_stages() -> list[dict]:
    return yaml.safe_load(PIPELINE.read_text())["stages"] + EXTRA_STAGES


def read_results(run_dir: Path) -> dict[str, dict]:
    """``{stage: metrics}`` of one finished folder, from each stage's ``metrics.json``."""
    return {
        path.parent.name: json.loads(path.read_text())
        for path in sorted(run_dir.glob("*/metrics.json"))
        if not path.parent.name.endswith(".previous")
    }


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


def pilot_table(pilot: dict[str, dict[str, dict]]) -> list[str]:
    lines = [
        "| setting | overrides | GCN | CPF-ind | CPF-tra | GCN val | CPF-ind val | CPF-tra val |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for setting, results in pilot.items():
        cells = [f"{results[s]['test_accuracy']:.3f}" if s in results else "-" for s in PILOT_STAGES]
        vals = [f"{results[s]['best_val_accuracy']:.3f}" if s in results else "-" for s in PILOT_STAGES]
        overrides = ", ".join(f"`{o}`" for o in PILOT_GRID[setting] if not o.startswith(f"{PILOT_STAGES[2]}."))
        overrides = overrides.replace(f"{PILOT_STAGES[1]}.", "students' ") or "(CPF's code defaults)"
        lines.append(f"| {setting} | {overrides} | " + " | ".join(cells + vals) + " |")
    return lines


def report(
    results: dict[int, dict[str, dict]], cost: dict[str, tuple[int, float]], seeds: list[int], pilot: dict
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
            f"Scoring cost (seed {seeds[0]}; one full-graph forward in eval mode, median of 20, on this machine "
            "while others shared it: compare within the table only):",
            "",
            "| model | parameters | forward ms |",
            "| --- | --- | --- |",
            *(f"| {stage} | {params:,} | {ms:.2f} |" for stage, (params, ms) in cost.items()),
            "",
        ]
    if pilot:
        lines += [
            f"## Pilot seed {PILOT_SEED}: the regime grid (GCN -> CPF only)",
            "",
            "`.venv/bin/python -m benchmarks.cpf --pilot`: test and best validation accuracy of each setting.",
            "",
            *pilot_table(pilot),
            "",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/bench_cpf"))
    parser.add_argument("--out", type=Path, help="report file (default: RUN_DIR/cpf.md)")
    parser.add_argument("--pilot", action="store_true", help=f"run the regime grid on pilot seed {PILOT_SEED} first")
    parser.add_argument("--report-only", action="store_true", help="tabulate the finished runs in RUN_DIR, run none")
    args = parser.parse_args()
    pilot: dict[str, dict[str, dict]] = {}
    for setting, overrides in PILOT_GRID.items():
        folder = args.run_dir / "pilot" / setting
        if args.pilot and not args.report_only:
            stages = [stage for stage in all_stages() if stage["name"] in PILOT_STAGES]
            pilot[setting] = run_pipeline(folder, PILOT_SEED, stages, CODE_DEFAULTS + overrides)
        elif folder.is_dir():
            pilot[setting] = read_results(folder)
    folders = {seed: args.run_dir / f"seed{seed}" for seed in args.seeds}
    if args.report_only or args.pilot:
        results = {seed: read_results(folder) for seed, folder in folders.items() if folder.is_dir()}
    else:
        results = {seed: run_pipeline(folder, seed, all_stages(), []) for seed, folder in folders.items()}
    seeds = [seed for seed in args.seeds if seed in results]
    cost = {}
    if seeds:
        first = folders[seeds[0]]
        stages = [stage for _, stage in TEACHERS] + ["cpf_ind_gcn", "cpf_tra_gcn"]
        cost = {stage: scoring_cost(first, stage) for stage in stages if (first / stage / "model.pt").is_file()}
    text = report(results, cost, seeds, pilot)
    out = args.out or args.run_dir / "cpf.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + NOTES)
    (args.run_dir / "cpf.json").write_text(json.dumps({"seeds": results, "pilot": pilot}, indent=1))
    print(text + NOTES)


NOTES = """## How this was made and how the regime was chosen

`OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.cpf --pilot` (the pilot grid) and then
`OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.cpf --seeds 0 1 2`, on 2 CPU cores shared with two other engineers'
jobs (load average 2 to 7), then `--report-only --out benchmarks/results/cpf.md` to write this file. Wall times
under that load are not comparable to a quiet machine; the forward times above compare models within one run.

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

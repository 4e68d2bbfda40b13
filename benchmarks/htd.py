"""HTD benchmark on MovieLens-100K: teacher, and for 10-d and 20-d students: alone, FTD, HTD, over seeds.

The runs are one sweep of ``benchmarks/htd.yaml`` (``pipelines/htd_ml100k.yaml`` plus the 10-d student alone trained
up to 100 epochs; ``engine.seed``: initialisation, batch order, negatives, Gumbel noise; the per-user split stays
``data.split_seed: 0``). This script formats the markdown report: test Recall / NDCG @ 20 and @ 50 (mean ± sample
std over seeds), each student row's paired difference to the student alone of its dimension and HTD − FTD, the
stages' epochs and seconds, and the scoring cost of teacher against students (embedding parameters; full ranking of
all items for all users, chunks of 1024 users, top 50, median of repeats), measured here on the first seed's models::

    OMP_NUM_THREADS=3 .venv/bin/ssl-kd sweep benchmarks/htd.yaml --seeds 0 1 2 --jobs 3
    .venv/bin/python -m benchmarks.htd runs/sweeps/htd_benchmark --out benchmarks/results/htd.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std
from benchmarks.sweep_results import complete_runs, run_folder
from ssl_kd.models.saved import load_saved_model
from ssl_kd.recsys.models import BPRMF

DIMS = (10, 20)
METRICS = [
    ("R@20", "test_recall_at_20"),
    ("N@20", "test_ndcg_at_20"),
    ("R@50", "test_recall_at_50"),
    ("N@50", "test_ndcg_at_50"),
]
CONVERGED = "student10_alone_long"  # the 10-d student alone trained to convergence, beside the 5-epoch rows
LONG = {"ftd": "student10_ftd_long", "htd": "student10_htd_long"}  # the code's regime: up to 100 epochs, λ_TD 1e-3
PAIRED = [("R@50", "test_recall_at_50"), ("N@50", "test_ndcg_at_50")]


NOTES = """
## How the regime was chosen (pilot seed 10 only, never seeds 0-2)

Commands: the pipeline with `engine.seed=10` (and the variants below as extra stages of the same file), reading
`val_recall_at_50` from each stage's `history.json`.

- Cost first: in one measurement on this machine, a training step of HTD with a 10-d student (K = 30 projectors to 200
  dimensions over the ~1,600 users and items of a 1,024-interaction batch) cost about 3x an FTD step and about 180x a
  step of the 10-d student alone. At the code's 100 epochs an HTD stage takes 28-46 min at one thread (measured later,
  below), so the pipeline gives every student the same short budget of 5 epochs (390 steps), validated every epoch,
  the best validated epoch kept; the benchmark adds the code's regime for the 10-d student. The teacher trains up to
  100 epochs with validation every 5 and patience 2 (pilot: best validation at epoch 40, stopped at 50; without early
  stopping it overfits, test R@50 0.569 at 40 -> 0.539 at 100).
- λ_TD: at the code's 1e-3 HTD barely moved the 10-d student in the pilot (val R@50 at 5 / 10 epochs: 0.385 / 0.404,
  student alone 0.347 / 0.364); at 1e-2 it reached 0.466 / 0.470. HTD uses 1e-2. FTD keeps the code's 1e-3 (its summed
  loss covers every node pair, so it is about 20x larger than HTD's entity term at the same λ) and was not tuned:
  0.486 / 0.467 in the pilot.
- Follow-up search, after seeds 0-2 had put HTD below FTD (pilot seed 10 again, 10-d student, best validated val R@50
  within the budget; `ssl-kd run benchmarks/htd_pilot.yaml engine.seed=10`: the pipeline's teacher plus one stage per
  setting): HTD λ_TD 1e-2 / 3e-2 / 1e-1 at α 0.5: 0.466 / 0.461 / 0.445; λ_TD 1e-2 at α 0.9 (less group assignment):
  0.458; K = 10 groups at λ_TD 3e-2: 0.318; λ_TD 1e-2 for 20 epochs (the Gumbel temperature annealed over 20): best
  0.468 at epoch 8, then falling to 0.432 by epoch 14 (stopped by hand there). FTD λ_TD 3e-4 / 1e-3 / 3e-3: 0.485 /
  0.485 / 0.466, and 1e-3 for 20 epochs: best 0.485 at epoch 5, then falling. The student alone for 20 epochs: 0.414,
  still rising. So neither a larger λ_TD, a different α or K, nor a four times longer budget brought HTD to FTD on
  this data: its best was 0.017 below FTD's on the pilot seed, and the pipeline's settings (HTD λ_TD 1e-2, FTD 1e-3, 5
  epochs) stay as they were. The reported rows were not rerun.
- Third check (2026-12-03, the same environment and command; stages `htd_shared_*`): FTD matches every user-item
  cosine of the batch, while HTD's entity level never pairs a user with an item (users and items are in separate
  groups, as in the code). With `shared_groups: true` (this library's variant: one assigner, users and items in the
  same 30 groups, so same-group user-item pairs join the entity level) HTD reached 0.470 at λ_TD 1e-2 and 0.462 at
  3e-2, against 0.473 for the pipeline's HTD and 0.486 for FTD: the missing user-item pairs do not explain the gap.
  The pipeline keeps the code's separate groups.
- Optimiser (2026-12-03): the searches above used the engine's AdamW (decoupled weight decay); the stages now use the
  code's Adam with the L2 decay 1e-3 in the gradient (`optim.name: adam`). Its check on pilot seed 10
  (`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1 ssl-kd run benchmarks/htd_pilot_adam.yaml
  engine.seed=10`): student alone 0.291, FTD λ_TD 1e-3 / 3e-3: 0.486 / 0.463, HTD λ_TD 1e-2 / 3e-2: 0.481 / 0.475, so
  the λ_TD values stay; HTD is still 0.005 below FTD on the pilot seed.
- The converged baseline: the 10-d student alone, trained up to 100 epochs with the teacher's early stopping, had val
  R@50 0.492 and test 0.520 on the pilot seed, above every 5-epoch distilled student. So on MovieLens-100K and this
  budget, topology distillation makes the small student learn much faster; the table's long row says whether it also
  makes it better than a student trained to convergence.
- The code's own regime (2026-12-03, `benchmarks/htd_pilot_long.yaml`, pilot seed 10, AVX2 kernels, 1 thread): the
  code's λ_TD 1e-3 for both methods and up to its 100 epochs, the Gumbel temperature annealed over 100, validated
  every 5 epochs with patience 2. Rule, written into that file before running: if HTD's best val R@50 is at or above
  FTD's and above the student alone's of the same budget, run seeds 0-2 in this regime. Best validated epoch, val /
  test R@50: student alone 100/100, 0.495 / 0.520; FTD 5/15 (it peaks at its 5th epoch and falls), 0.486 / 0.505; HTD
  60/70, 0.514 / 0.547. The rule held, so `benchmarks/htd.yaml` gained the `*_long` FTD and HTD stages (the 5-epoch
  stages and their rows are unchanged). An HTD stage in this regime took 28-46 min at one thread (the longer while
  other jobs shared the cores), too long for the 15-minute pipeline, which keeps the 5-epoch budget.

## Reading (seeds 0-2)

Run: `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2 ssl-kd sweep benchmarks/htd.yaml
engine.progress=false --seeds 0 1 2 --jobs 2 --sweep-dir runs/sweeps/htd_benchmark` (one thread per run, the AVX2
kernels every x86_64 CPU with AVX-512 also has), 2026-12-03, then this script. Every stage was computed by that sweep
with Adam (L2 decay); the two `*_long` stages were added later the same day and computed by the same command, which
reused every other stage from its store (seed 2's long stages ran beside it as `--seeds 2 --sweep-dir
runs/sweeps/htd_benchmark_seed2 --store runs/sweeps/htd_benchmark/store`, one thread, to use the second core; up to
four runs shared the two cores, hence the long stages' seconds). The table before, with AdamW (2026-12-02, same seeds
and environment), read 10-d: alone 0.316 ± 0.027, FTD 0.512 ± 0.006, HTD 0.477 ± 0.014; 20-d: alone 0.325 ± 0.001, FTD
0.535 ± 0.003, HTD 0.501 ± 0.007 (R@50): the optimiser moves no row by more than its spread and changes no verdict.
The 5-epoch rows' seconds are two runs sharing the 2 cores.

- HTD beats the 5-epoch student alone at both sizes, by far more than two standard deviations: 10-d +0.152 ± 0.025
  R@50 (rows 0.475 ± 0.006 vs 0.323 ± 0.019), 20-d +0.171 ± 0.024.
- In the code's regime (up to 100 epochs, λ_TD 1e-3 for both) the paper's order holds at 10-d: HTD 0.553 ± 0.003 R@50,
  the student alone trained as long 0.522 ± 0.006, FTD 0.512 ± 0.007. HTD beats that student alone by +0.030 ± 0.008
  (paired, every seed), 5 standard deviations of the alone row and 10 of its own, and FTD by +0.040 ± 0.006 (N@50
  +0.052 ± 0.011). FTD peaks at its 5th epoch on every seed and then falls (stopped at 15), so its long row equals its
  5-epoch row: the full topology at this weight stops helping once the student has absorbed it, and given 100 epochs
  the student alone passes it. HTD keeps rising to epoch 75-100; it ends 0.021 below the teacher (0.574) with 20x
  fewer embedding parameters. 20-d was not run in this regime (an HTD stage costs 28-46 min at one thread here).
- On the pipeline's 5-epoch budget HTD is **below FTD** at both sizes (10-d −0.038 ± 0.011 R@50, 20-d −0.041 ± 0.005):
  in that regime the paper's order (HTD > FTD at small dimensions) is not reproduced. FTD keeps the code's λ_TD (the
  pilot's 3e-4 and 3e-3 were no better); HTD's λ_TD, α, K, group level, pair selection, budget and optimiser were
  searched on the pilot seed (above) without reaching FTD; in particular a four times longer budget, for the group
  assigner whose temperature anneals over the stage, peaked at epoch 8 below FTD, and adding same-group user-item
  pairs to HTD's entity level (`shared_groups`, FTD has them, the code's HTD does not) did not help either (0.470).
  The code's regime (above) points at budget and weight together: at λ_TD 1e-3 HTD's gain builds over tens of epochs,
  while the 20-epoch try used 1e-2 and peaked early; FTD's gain comes in its first 5 epochs at either budget.
- The 10-d student alone trained to convergence (100 epochs, 20x the steps) reaches 0.522 ± 0.006 R@50, above both
  5-epoch distilled 10-d students: on the short budget topology distillation buys learning speed; on the code's budget
  HTD also buys a better final student, FTD does not.
- Scoring: BPR-MF ranking cost is dominated by the top-k over all items, so the 20x smaller student ranks all users
  only about 2x faster than the teacher.
"""


def rows() -> list[tuple[str, str, str | None]]:
    """``(label, stage, the student-alone stage it is paired with)`` of every row, in report order."""
    table: list[tuple[str, str, str | None]] = [("teacher (BPR-MF 200-d)", "teacher", None)]
    for dim in DIMS:
        alone = f"student{dim}_alone"
        table += [
            (f"student {dim}-d alone", alone, alone),
            (f"student {dim}-d + FTD", f"student{dim}_ftd", alone),
            (f"student {dim}-d + HTD", f"student{dim}_htd", alone),
        ]
    table += [
        ("student 10-d alone, up to 100 epochs (converged baseline)", CONVERGED, "student10_alone"),
        ("student 10-d + FTD, up to 100 epochs (λ_TD 1e-3)", LONG["ftd"], CONVERGED),
        ("student 10-d + HTD, up to 100 epochs (λ_TD 1e-3)", LONG["htd"], CONVERGED),
    ]
    return table


def htd_ftd_pairs() -> list[tuple[str, str, str]]:
    """``(label, HTD stage, FTD stage)`` of every paired HTD − FTD line."""
    pairs = [(f"{dim}-d, 5 epochs", f"student{dim}_htd", f"student{dim}_ftd") for dim in DIMS]
    return [*pairs, ("10-d, up to 100 epochs", LONG["htd"], LONG["ftd"])]


def stage_results(record: dict[str, Any]) -> dict[str, dict]:
    """``{stage: metrics + seconds + epochs}`` of one run of the sweep: its metrics, each stage's seconds when it was
    computed, and the epochs of its ``history.json``."""
    run_dir = run_folder(record)
    results = {}
    for stage, metrics in record["results"].items():
        history = json.loads((run_dir / stage / "history.json").read_text())
        seconds = record["stages"][stage].get("seconds") or float("nan")
        results[stage] = metrics | {"seconds": seconds, "epochs": history[-1]["epoch"] if history else 0}
    return results


@torch.inference_mode()
def ranking_seconds(model: BPRMF, repeats: int = 5, chunk: int = 1024) -> float:
    """Median seconds to score every item for every user and take each user's top 50 (chunks of ``chunk``)."""
    model.eval()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for begin in range(0, model.num_users, chunk):
            users = torch.arange(begin, min(begin + chunk, model.num_users))
            torch.topk(model.score_items(users), min(50, model.num_items), dim=1)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def epochs_cell(by_seed: dict[int, dict], stage: str, seeds: list[int]) -> str:
    """Trained epochs per seed (early stopping: the best epoch kept / the epoch it stopped at)."""
    cells = []
    for seed in seeds:
        metrics = by_seed[seed][stage]
        if "best_epoch" in metrics:
            cells.append(f"{int(metrics['best_epoch'])}/{int(metrics['stopped_epoch'])}")
        else:
            cells.append(str(int(metrics["epochs"])))
    return ", ".join(cells)


def report(by_seed: dict[int, dict[str, dict]], cost: dict[str, tuple[int, float]], seeds: list[int]) -> str:
    lines = [
        "# HTD benchmark (MovieLens-100K)",
        "",
        f"Machine: {hardware()}. Seeds {', '.join(map(str, seeds))} (`engine.seed`: initialisation, batch order,",
        "negatives, Gumbel noise; the per-user 80/10/10 split is fixed by `data.split_seed: 0`). Full ranking of all",
        "1,682 items for the 943 users, training and validation items excluded; mean ± sample std over seeds;",
        "Δ: the row minus the student alone of the same dimension, paired by seed (mean ± std).",
        "",
        "| row | " + " | ".join(name for name, _ in METRICS) + " | Δ R@50 vs alone | Δ N@50 vs alone | "
        "epochs (best/stopped) | seconds |",
        "| --- |" + " --- |" * (len(METRICS) + 4),
    ]
    for label, stage, alone in rows():
        if any(stage not in by_seed[s] for s in seeds):
            lines.append(f"| {label} | not run on every seed |" + " |" * (len(METRICS) + 3))
            continue
        cells = [mean_std([by_seed[s][stage][key] for s in seeds]) for _, key in METRICS]
        deltas = []
        for _, key in PAIRED:
            if alone is None or any(alone not in by_seed[s] for s in seeds):
                deltas.append("")
                continue
            deltas.append(mean_std([by_seed[s][stage][key] - by_seed[s][alone][key] for s in seeds], signed=True))
        seconds = statistics.mean(by_seed[s][stage]["seconds"] for s in seeds)
        lines.append(
            f"| {label} | " + " | ".join(cells + deltas) + f" | {epochs_cell(by_seed, stage, seeds)} | {seconds:.0f} |"
        )
    lines += ["", "HTD − FTD, paired by seed:", ""]
    for label, htd, ftd in htd_ftd_pairs():
        if any(htd not in by_seed[s] or ftd not in by_seed[s] for s in seeds):
            lines.append(f"- {label}: not run on every seed")
            continue
        parts = [
            f"{name} {mean_std([by_seed[s][htd][key] - by_seed[s][ftd][key] for s in seeds], signed=True)}"
            for name, key in PAIRED
        ]
        lines.append(f"- {label}: " + ", ".join(parts))
    teacher_params, teacher_time = cost["teacher"]
    lines += [
        "",
        "Scoring cost (seed " + str(seeds[0]) + "'s models; full ranking of all users, top 50, median of 5):",
        "",
    ]
    lines += ["| model | embedding parameters | ranking all users (ms) | vs teacher |", "| --- | --- | --- | --- |"]
    for stage, (params, seconds) in cost.items():
        if stage == "teacher":
            lines.append(f"| {stage} | {params:,} | {1000 * seconds:.1f} | |")
            continue
        lines.append(
            f"| {stage} | {params:,} ({teacher_params / params:.1f}x fewer) | {1000 * seconds:.1f} | "
            f"{teacher_time / seconds:.1f}x faster |"
        )
    return "\n".join(lines) + "\n" + NOTES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder of benchmarks/htd.yaml")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    runs = complete_runs(args.sweep_dir)
    by_seed = {seed: stage_results(run) for seed, run in runs.items()}
    seeds = list(by_seed)
    first = run_folder(runs[seeds[0]])
    cost = {}
    for stage in ("teacher", *(f"student{dim}_alone" for dim in DIMS)):
        model, _ = load_saved_model(first / stage)
        cost[stage] = (model.embedding_parameters, ranking_seconds(model))
    text = report(by_seed, cost, seeds)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

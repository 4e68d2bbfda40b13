"""KEnS benchmark: ``pipelines/kens_kinships.yaml`` over seeds, single model vs ensembles per view.

The runs are one sweep: the pipeline's ``sweep:`` section sets ``engine.seed`` and ``data.view_seed`` to the seed
(new views, seed links, initialisation, batch order and negatives). This script formats its report: per target view,
the single model's and every ensemble's filtered tail Hits@1/3/10 (mean ± sample std over seeds), the paired
difference ensemble − single (same seed, same models), how many views each ensemble wins on Hits@10 per seed, and
self-learning's alignment precision per round::

    OMP_NUM_THREADS=1 .venv/bin/ssl-kd sweep pipelines/kens_kinships.yaml --seeds 0 1 2
    .venv/bin/python -m benchmarks.kens runs/sweeps/kens_kinships --out benchmarks/results/kens.md
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from benchmarks.machine import hardware
from benchmarks.seed_stats import mean_std
from benchmarks.sweep_results import complete_runs, stage_seconds

ENSEMBLES = ("majority", "mrr", "weighted", "boosting")
KS = (1, 3, 10)


def report(results: dict[int, dict[str, dict[str, Any]]], seconds: dict[int, float]) -> str:
    seeds = sorted(results)
    ensemble = {s: results[s]["ensemble"] for s in seeds}
    embed = {s: results[s]["embed"] for s in seeds}
    views = sorted({int(k[4 : k.index("_")]) for k in ensemble[seeds[0]] if k.startswith("view") and "_single_" in k})
    lines = [
        "# KEnS on views of Kinships",
        "",
        f"Machine: {hardware()}. Pipeline `pipelines/kens_kinships.yaml`, seeds {seeds} (engine.seed = "
        f"data.view_seed). Stage seconds per seed: " + ", ".join(f"{s}: {seconds[s]:.0f} s" for s in seeds) + ".",
        "",
        "Filtered tail queries (h, r, ?) of each view's test triples; mean ± sample std over seeds. Δ: paired "
        "difference ensemble − single (same seed), mean ± std.",
        "",
    ]
    names = ["single", *ENSEMBLES]
    for v in views:
        lines += [
            f"## view{v}",
            "",
            "| model | Hits@1 | Hits@3 | Hits@10 | Δ Hits@10 | MRR |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name in names:
            cells = [mean_std([ensemble[s][f"view{v}_{name}_hits_at_{k}"] for s in seeds]) for k in KS]
            delta = [
                ensemble[s][f"view{v}_{name}_hits_at_10"] - ensemble[s][f"view{v}_single_hits_at_10"] for s in seeds
            ]
            mrr = mean_std([ensemble[s][f"view{v}_{name}_mrr"] for s in seeds])
            shown = "—" if name == "single" else mean_std(delta, signed=True)
            lines.append(f"| {name} | {' | '.join(cells)} | {shown} | {mrr} |")
        lines.append("")
    lines += ["## Mean over views", "", "| model | Hits@1 | Hits@3 | Hits@10 | views won (H@10) per seed |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for name in names:
        cells = [mean_std([ensemble[s][f"mean_{name}_hits_at_{k}"] for s in seeds]) for k in KS]
        won = (
            "—" if name == "single" else ", ".join(str(ensemble[s][f"views_where_{name}_beats_single"]) for s in seeds)
        )
        lines.append(f"| {name} | {' | '.join(cells)} | {won} |")
    lines += ["", "## Self-learning", "", "| round | new links | precision |", "| --- | --- | --- |"]
    rounds = sorted({int(k.rsplit("round", 1)[1]) for k in embed[seeds[0]] if k.startswith("align_precision_round")})
    for r in rounds:
        found = mean_std([embed[s][f"align_new_links_round{r}"] for s in seeds])
        precision = mean_std([embed[s][f"align_precision_round{r}"] for s in seeds])
        lines.append(f"| {r} | {found} | {precision} |")
    recall = mean_std([embed[s]["align_held_out_recall"] for s in seeds])
    single_all = mean_std([embed[s]["mean_test_hits_at_10"] for s in seeds])
    lines += [
        "",
        f"Held-out true links recovered by the end: {recall}. Single models, head and tail queries pooled, mean "
        f"Hits@10 over views: {single_all}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder of pipelines/kens_kinships.yaml")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    runs = complete_runs(args.sweep_dir)
    results = {seed: run["results"] for seed, run in runs.items()}
    text = report(results, {seed: stage_seconds(run) for seed, run in runs.items()})
    print(text)
    if args.out:
        args.out.write_text(text)
    means = {
        name: statistics.mean(results[s]["ensemble"][f"mean_{name}_hits_at_10"] for s in results) for name in ENSEMBLES
    }
    print("mean Hits@10 over views and seeds:", {k: round(v, 3) for k, v in means.items()})


if __name__ == "__main__":
    main()

"""KD zoo benchmark table: every supervised method of ``pipelines/kd_zoo_digits.yaml``, test top-1 over seeds.

The runs are one sweep (``engine.seed`` and ``data.subset_seed`` both set to the seed, by the pipeline's ``sweep:``
section, so each seed draws its own labelled subset and its own initialisation); this script only formats its
table::

    .venv/bin/python -m ssl_kd sweep pipelines/kd_zoo_digits.yaml --seeds 0 1 2 --baseline mbv2_alone
    .venv/bin/python -m benchmarks.kd_zoo runs/sweeps/kd_zoo_digits --out benchmarks/kd_zoo_results.md

A cheaper check of some rows: ``--subset STAGE ...`` writes a pipeline with only those stages (and the stages they
take models from), whose fingerprints are those of the full pipeline, to sweep like the full one; ``--compare FILE``
checks each cell of the table against the same row and column of an earlier results file::

    .venv/bin/python -m benchmarks.kd_zoo --subset mbv2_alone alexnet_alone --subset-file runs/kd_zoo_alone.yaml
    .venv/bin/python -m ssl_kd sweep runs/kd_zoo_alone.yaml --seeds 0 1 2
    .venv/bin/python -m benchmarks.kd_zoo runs/sweeps/kd_zoo_digits_subset --compare benchmarks/kd_zoo_results.md

``--plain-runs DIR`` checks the sweep's runs against ``DIR/seed<S>/results.json`` of plain ``ssl-kd run`` with
``engine.seed=S data.subset_seed=S`` (the per-seed runs this script made before sweeps).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from benchmarks.machine import hardware
from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import fingerprints
from ssl_kd.sweep.stats import format_mean_std

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "kd_zoo_digits.yaml"
ROWS = [  # (row label, stage suffix)
    ("student alone", "alone"),
    ("Hinton KD (convex, alpha 0.9)", "kd"),
    ("DML (2 peers, joint)", "dml"),
    ("DML (2 peers, alternating)", "dml_alt"),
    ("SOKD", "sokd"),
    ("DR-KD (no teacher)", "drkd"),
    ("FitNets (hint 30% -> KD 70% of the budget)", "fitnet"),
]
COLUMNS = [("MobileNetV2 (10 epochs)", "mbv2"), ("AlexNet (5 epochs)", "alexnet")]
VIT_ROWS = [
    ("ViT teacher (4 layers)", "vit_teacher"),
    ("ViT student alone (2 layers)", "vit_alone"),
    ("ViT student, internal-representation KD", "vit_internal"),
]
MISSING = "not run"


def sweep_cells(sweep_dir: Path) -> tuple[dict[str, str], list[int]]:
    """Stage -> ``mean ± std`` of its test top-1 (std 0.000 for one seed) from ``sweep.json``, and the seeds."""
    summary = json.loads((Path(sweep_dir) / "sweep.json").read_text())
    cells = {
        row["stage"]: format_mean_std(row["mean"], row["std"] or 0.0)
        for row in summary["table"]
        if row["metric"] == "test_top1"
    }
    return cells, summary["seeds"]


def markdown_table(cells: dict[str, str]) -> str:
    """The student table and the ViT table, in markdown; rows with no stage in ``cells`` are left out."""

    def cell(stage: str) -> str:
        return cells.get(stage, MISSING)

    lines = ["| method | " + " | ".join(name for name, _ in COLUMNS) + " |", "| --- |" + " --- |" * len(COLUMNS)]
    if "teacher" in cells:
        lines.append("| ResNet-18 teacher | " + " | ".join(cell("teacher") for _ in COLUMNS) + " |")
    for label, suffix in ROWS:
        stages = [f"{prefix}_{suffix}" for _, prefix in COLUMNS]
        if any(stage in cells for stage in stages):
            lines.append(f"| {label} | " + " | ".join(cell(stage) for stage in stages) + " |")
    vit = [(label, stage) for label, stage in VIT_ROWS if stage in cells]
    if vit:
        lines += ["", "| ViT pair | test top-1 |", "| --- | --- |"]
        lines += [f"| {label} | {cell(stage)} |" for label, stage in vit]
    return "\n".join(lines)


def table_cells(text: str) -> dict[tuple[str, str], str]:
    """``(row label, column title) -> cell`` of every markdown table in ``text``."""
    found, header = {}, None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        parts = [part.strip() for part in line.strip("|").split("|")]
        if header is None:
            header = parts
        elif not set(parts[0]) <= {"-"}:
            found |= {(parts[0], title): value for title, value in zip(header[1:], parts[1:], strict=False)}
    return found


def compare(table: str, reference: Path) -> list[str]:
    """One line per cell of ``table`` that ``reference`` also has: equal or different."""
    old = table_cells(reference.read_text())
    lines = []
    for key, value in table_cells(table).items():
        if value != MISSING and key in old:
            verdict = "equal" if old[key] == value else f"DIFFERENT (was {old[key]})"
            lines.append(f"- {key[0]} / {key[1]}: {value} {verdict}")
    return lines


def compare_runs(sweep_dir: Path, runs_dir: Path) -> list[str]:
    """One line per seed: whether the sweep's run has every metric of ``runs_dir/seed<S>/results.json`` (a run of
    the pipeline with ``engine.seed=S data.subset_seed=S``, what this script did per seed before sweeps)."""
    summary = json.loads((Path(sweep_dir) / "sweep.json").read_text())
    lines = []
    for run in summary["runs"]:
        plain = json.loads((runs_dir / f"seed{run['seed']}" / "results.json").read_text())
        verdict = "equal" if plain == run["results"] else "DIFFERENT"
        lines.append(f"- seed {run['seed']}: every metric of every stage {verdict} to {runs_dir}/seed{run['seed']}")
    return lines


def write_subset(stages: list[str], out: Path) -> None:
    """Write a pipeline with ``stages`` of the KD zoo and the stages they use; check their fingerprints."""
    raw = yaml.safe_load(PIPELINE.read_text())
    full = load_pipeline(PIPELINE)
    keep = set()
    pending = list(stages)
    while pending:
        name = pending.pop()
        if name not in keep:
            keep.add(name)
            pending += full.stage(name).references().values()
    raw["name"] = f"{raw['name']}_subset"
    raw["stages"] = [stage for stage in raw["stages"] if stage["name"] in keep]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    subset, whole = fingerprints(load_pipeline(out)), fingerprints(full)
    assert all(subset[name] == whole[name] for name in subset), "a subset stage's fingerprint changed"
    print(f"{out}: stages {', '.join(subset)} (fingerprints as in {PIPELINE.name})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, nargs="?", help="a sweep folder of the KD zoo pipeline")
    parser.add_argument("--out", type=Path, help="also write the table (and the comparisons) here")
    parser.add_argument("--compare", type=Path, help="check every cell against this earlier results file")
    parser.add_argument("--plain-runs", type=Path, help="check the sweep's runs against RUNS/seed<S>/results.json")
    parser.add_argument("--subset", nargs="+", metavar="STAGE", help="write a pipeline with these stages only")
    parser.add_argument("--subset-file", type=Path, default=Path("runs/kd_zoo_subset.yaml"))
    args = parser.parse_args()
    if args.subset:
        write_subset(args.subset, args.subset_file)
        return
    if args.sweep_dir is None:
        parser.error("give a sweep folder (or --subset)")
    cells, seeds = sweep_cells(args.sweep_dir)
    per_class = load_pipeline(PIPELINE).stages[0].data.train_per_class
    header = (
        f"Test top-1 on digits (450 test images), mean ± std over seeds {seeds}; {per_class} labelled images per "
        f"class; from the sweep in {args.sweep_dir} (`{args.sweep_dir}/sweep.md` has the per-seed values), "
        f"formatted on a {hardware()}."
    )
    lines = [header, "", markdown_table(cells)]
    if args.compare:
        lines += ["", f"Against {args.compare}:", *compare(markdown_table(cells), args.compare)]
    if args.plain_runs:
        lines += ["", f"Against {args.plain_runs}:", *compare_runs(args.sweep_dir, args.plain_runs)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

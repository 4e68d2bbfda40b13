"""CPF's per-node gates in the report: how much each node's prediction came from structure versus features.

A CPF stage writes ``gates.csv`` (node, source id, split, label, student and teacher predictions, gate σ(α_v): the
weight of label propagation in the node's prediction; docs/methods/cpf.md). The figure shows the gates' histogram
per split and, on the test nodes, for correct against incorrect predictions.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ssl_kd.graph.methods.cpf import GATES_FILE
from ssl_kd.report.figures import to_png
from ssl_kd.report.html import Section

SPLITS = ("labelled", "validation", "test")


def read_gates(path: Path) -> dict[str, np.ndarray]:
    """``gates.csv`` as columns: ``split`` (str), ``gate`` (float) and ``correct`` (bool: predicted == label)."""
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return {
        "split": np.asarray([row["split"] for row in rows]),
        "gate": np.asarray([float(row["gate"]) for row in rows]),
        "correct": np.asarray([row["predicted"] == row["label"] for row in rows]),
    }


def gates_figure(stage: str, gates: dict[str, np.ndarray]) -> Figure:
    """Histograms of σ(α_v): by split (left), and on test nodes by correct / incorrect prediction (right)."""
    figure = Figure(figsize=(10, 3.6))
    by_split, by_outcome = figure.subplots(1, 2)
    bins = np.linspace(0.0, 1.0, 26)
    for split in SPLITS:
        values = gates["gate"][gates["split"] == split]
        if len(values):
            by_split.hist(values, bins=bins, alpha=0.55, label=f"{split} ({len(values)})")
    test = gates["split"] == "test"
    for label, chosen in (("correct", gates["correct"]), ("incorrect", ~gates["correct"])):
        values = gates["gate"][test & chosen]
        if len(values):
            by_outcome.hist(values, bins=bins, alpha=0.55, label=f"{label} ({len(values)})")
    for axis, title in ((by_split, "by split"), (by_outcome, "test nodes by prediction")):
        axis.set_xlabel("gate σ(α): 0 = features only, 1 = label propagation only")
        axis.set_ylabel("nodes")
        axis.set_title(f"{stage}: {title}")
        axis.legend(fontsize=8)
    return figure


def gates_section(run_dir: Path, stages: list[dict[str, Any]], out_dir: Path) -> Section | None:
    """One gate figure per stage that wrote ``gates.csv``; None when no stage did."""
    section = Section("CPF gates: structure versus features per node")
    for stage in stages:
        path = run_dir / stage["name"] / GATES_FILE
        if path.is_file():
            gates = read_gates(path)
            png = to_png(gates_figure(stage["name"], gates))
            (out_dir / f"gates_{stage['name']}.png").write_bytes(png)
            section.images.append((f"gate distribution of {stage['name']}", png))
            test_mean = gates["gate"][gates["split"] == "test"].mean()
            section.paragraphs.append(
                f"{stage['name']}: mean gate {gates['gate'].mean():.3f} (test nodes {test_mean:.3f}); per-node values "
                f"in {path.relative_to(run_dir)}."
            )
    return section if section.images else None

"""``ssl-kd report SWEEP_DIR``: a sweep's table and one error-bar plot per headline metric (from ``sweep.json``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from ssl_kd.report.builder import REPORT_DIR, REPORT_FILE
from ssl_kd.report.figures import to_png
from ssl_kd.report.html import Section, render_page
from ssl_kd.sweep.aggregate import SWEEP_JSON, Row, read_rows, table_rows

LOG = logging.getLogger("ssl_kd")


def is_sweep_dir(path: Path) -> bool:
    """Whether ``path`` is a sweep folder (it holds ``sweep.json``)."""
    return (Path(path) / SWEEP_JSON).is_file()


def errorbar_figure(title: str, rows: Sequence[Row]) -> Figure:
    """Mean ± sample std of one metric per grid point and stage, with each seed's value as a dot."""
    figure = Figure(figsize=(max(5.0, 0.8 * len(rows) + 2), 3.8))
    axis = figure.subplots()
    positions = range(len(rows))
    stds = [row.std or 0.0 for row in rows]
    axis.errorbar(positions, [row.mean for row in rows], yerr=stds, fmt="o", capsize=4, label="mean ± std")
    for position, row in zip(positions, rows, strict=True):
        axis.scatter([position] * len(row.values), list(row.values.values()), s=10, color="grey", alpha=0.7)
    axis.set_xticks(list(positions), [f"{row.point}\n{row.stage}" for row in rows], rotation=30, ha="right")
    axis.set_ylabel(title)
    axis.grid(alpha=0.3)
    axis.set_title(f"{title}: mean ± sample std over seeds (dots: seeds)")
    return figure


def build_sweep_report(sweep_dir: Path) -> Path:
    """Write ``SWEEP_DIR/report/report.html`` (self-contained) and one PNG per metric; return the HTML path."""
    sweep_dir = Path(sweep_dir)
    summary, rows = read_rows(sweep_dir)
    out_dir = sweep_dir / REPORT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    header, cells = table_rows(rows, summary["seeds"])
    table = Section("Sweep table", tables=[(header, cells)])
    grid = "; ".join(f"{key} in {values}" for key, values in summary["grid"].items()) or "none"
    table.paragraphs.append(f"Pipeline {summary['pipeline']}, seeds {summary['seeds']}, grid: {grid}.")
    failed = [run for run in summary["runs"] if run["status"] == "failed"]
    if failed:
        table.paragraphs += [f"FAILED {run['name']}: exit code {run['returncode']}, log {run['log']}" for run in failed]
    plots = Section("Error bars")
    for metric in dict.fromkeys(row.metric for row in rows):
        chosen = [row for row in rows if row.metric == metric]
        png = to_png(errorbar_figure(chosen[0].title, chosen))
        (out_dir / f"errorbars_{metric}.png").write_bytes(png)
        plots.images.append((f"error bars of {metric}", png))
    path = out_dir / REPORT_FILE
    path.write_text(render_page(f"ssl_kd sweep {summary['name']}", [table, plots]))
    LOG.info("report: %s", path)
    return path

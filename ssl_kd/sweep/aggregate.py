"""A sweep's table: per grid point, stage and headline metric, mean ± sample std over seeds, the per-seed values
and, against a baseline, the paired difference per seed (mean ± std, wins / losses / ties; a win is a higher value).

The baseline is a stage (every other stage of the same run minus it) or a grid point (every other point minus it,
same seed and stage). Written as ``sweep.json`` (everything), ``sweep.csv`` (one row per point, stage and metric)
and ``sweep.md``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ssl_kd.engine.checkpoint import atomic_write_json
from ssl_kd.errors import ConfigError, did_you_mean
from ssl_kd.sweep import stats

SWEEP_JSON = "sweep.json"
SWEEP_CSV = "sweep.csv"
SWEEP_MD = "sweep.md"


@dataclass
class Row:
    """One grid point, stage and metric over the seeds (``diff_*``: against ``baseline``, when one applies)."""

    point: str
    stage: str
    metric: str
    title: str
    values: dict[int, float]
    mean: float
    std: float | None
    baseline: str | None = None
    differences: dict[int, float] = field(default_factory=dict)
    diff_mean: float | None = None
    diff_std: float | None = None
    wins: int | None = None
    losses: int | None = None
    ties: int | None = None


def baseline_kind(baseline: str | None, stages: Sequence[str], points: Sequence[str]) -> str | None:
    """``"stage"`` or ``"point"``: what ``baseline`` names (None: no baseline).

    Raises:
        ConfigError: it names neither, or both.
    """
    if baseline is None:
        return None
    if baseline in stages and baseline in points:
        raise ConfigError(f"--baseline {baseline!r} is both a stage and a grid point")
    if baseline in stages:
        return "stage"
    if baseline in points:
        return "point"
    raise ConfigError(
        f"--baseline {baseline!r} is neither a stage nor a grid point{did_you_mean(baseline, [*stages, *points])}; "
        f"stages: {', '.join(stages)}; points: {', '.join(points)}"
    )


def aggregate(runs: Sequence[Mapping[str, Any]], titles: Mapping[str, str], baseline: str | None = None) -> list[Row]:
    """The table of the complete runs.

    Args:
        runs: ``{"point", "seed", "status", "results": {stage: metrics}}`` per run, in sweep order.
        titles: headline metric key -> column title (``ssl_kd.scheduler.headline_metrics()``), in table order.
        baseline: a stage or grid point name, or None.
    """
    complete = [run for run in runs if run["status"] == "complete"]
    points = list(dict.fromkeys(run["point"] for run in runs))
    stages = list(dict.fromkeys(stage for run in complete for stage in run["results"]))
    kind = baseline_kind(baseline, stages, points)
    values: dict[tuple[str, str, str], dict[int, float]] = {}
    for run in complete:
        for stage, metrics in run["results"].items():
            for metric in titles:
                if isinstance(metrics.get(metric), (int, float)):
                    values.setdefault((run["point"], stage, metric), {})[run["seed"]] = float(metrics[metric])
    rows = []
    for point in points:
        for stage in stages:
            for metric, title in titles.items():
                per_seed = values.get((point, stage, metric))
                if not per_seed:
                    continue
                spread = stats.sample_std(list(per_seed.values()))
                row = Row(point, stage, metric, title, per_seed, stats.mean(list(per_seed.values())), spread)
                against = _baseline_values(values, kind, baseline, point, stage, metric)
                if against is not None:
                    _compare(row, against, f"{kind} {baseline}")
                rows.append(row)
    return rows


def _baseline_values(
    values: Mapping[tuple[str, str, str], dict[int, float]],
    kind: str | None,
    baseline: str | None,
    point: str,
    stage: str,
    metric: str,
) -> dict[int, float] | None:
    if kind == "stage" and stage != baseline:
        return values.get((point, str(baseline), metric))
    if kind == "point" and point != baseline:
        return values.get((str(baseline), stage, metric))
    return None


def _compare(row: Row, against: Mapping[int, float], label: str) -> None:
    differences = stats.paired_differences(row.values, against)
    if not differences:
        return
    row.baseline = label
    row.differences = differences
    row.diff_mean = stats.mean(list(differences.values()))
    row.diff_std = stats.sample_std(list(differences.values()))
    row.wins, row.losses, row.ties = stats.tally(list(differences.values()))


def table_rows(rows: Sequence[Row], seeds: Sequence[int]) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of the sweep table (the markdown file and the HTML report)."""
    compared = any(row.baseline for row in rows)
    header = ["point", "stage", "metric", "mean ± std", *(f"seed {seed}" for seed in seeds)]
    if compared:
        header += ["vs", "difference", "W/L/T"]
    lines = []
    for row in rows:
        cells = [row.point, row.stage, row.title, stats.format_mean_std(row.mean, row.std)]
        cells += [f"{row.values[seed]:.3f}" if seed in row.values else "" for seed in seeds]
        if compared:
            tally = f"{row.wins}/{row.losses}/{row.ties}" if row.baseline else ""
            difference = "" if row.diff_mean is None else stats.format_mean_std(row.diff_mean, row.diff_std, True)
            cells += [row.baseline or "", difference, tally]
        lines.append(cells)
    return header, lines


def markdown(summary: Mapping[str, Any], rows: Sequence[Row]) -> str:
    """``sweep.md``: what was swept, the table, and every failed run with the tail of its log."""
    seeds = summary["seeds"]
    grid = "; ".join(f"{key} in {values}" for key, values in summary["grid"].items()) or "none"
    complete = sum(1 for run in summary["runs"] if run["status"] == "complete")
    lines = [
        f"Sweep of {summary['pipeline']}: seeds {seeds}; grid: {grid}; overrides: "
        f"{' '.join(summary['overrides']) or 'none'}. {complete} of {len(summary['runs'])} runs complete. "
        "Mean ± sample std over seeds (std blank for one seed).",
        "",
    ]
    header, cells = table_rows(rows, seeds)
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    if any(row.baseline for row in rows):
        lines += [
            "",
            "difference: paired per seed (this row minus the baseline); W/L/T: seeds where it is higher / "
            "lower / equal.",
        ]
    for run in summary["runs"]:
        if run["status"] == "failed":
            lines += ["", f"FAILED {run['name']}: exit code {run['returncode']}, log {run['log']}", "", "```"]
            lines += [run["log_tail"].rstrip(), "```"]
        elif run["status"] == "incomplete":
            lines += ["", f"not run yet: {run['name']}"]
    return "\n".join(lines) + "\n"


def write_outputs(sweep_dir: Path, summary: dict[str, Any], rows: Sequence[Row]) -> dict[str, Path]:
    """Write ``sweep.json``, ``sweep.csv`` and ``sweep.md`` into ``sweep_dir``; return their paths."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: sweep_dir / name for name in (SWEEP_JSON, SWEEP_CSV, SWEEP_MD)}
    atomic_write_json(paths[SWEEP_JSON], {**summary, "table": [_json_row(row) for row in rows]})
    seeds = summary["seeds"]
    with paths[SWEEP_CSV].open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            [
                "point",
                "stage",
                "metric",
                "title",
                "n",
                "mean",
                "std",
                *(f"seed={s}" for s in seeds),
                "baseline",
                "diff_mean",
                "diff_std",
                "wins",
                "losses",
                "ties",
            ]
        )
        for row in rows:
            writer.writerow(
                [
                    row.point,
                    row.stage,
                    row.metric,
                    row.title,
                    len(row.values),
                    row.mean,
                    _blank(row.std),
                    *(_blank(row.values.get(s)) for s in seeds),
                    row.baseline or "",
                    _blank(row.diff_mean),
                    _blank(row.diff_std),
                    _blank(row.wins),
                    _blank(row.losses),
                    _blank(row.ties),
                ]
            )
    paths[SWEEP_MD].write_text(markdown(summary, rows))
    return paths


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _json_row(row: Row) -> dict[str, Any]:
    data = asdict(row)
    data["values"] = {str(seed): value for seed, value in row.values.items()}
    data["differences"] = {str(seed): value for seed, value in row.differences.items()}
    return data


def read_rows(sweep_dir: Path) -> tuple[dict[str, Any], list[Row]]:
    """``sweep.json`` back: the summary and the table rows."""
    data = json.loads((Path(sweep_dir) / SWEEP_JSON).read_text())
    rows = []
    for item in data.pop("table"):
        item["values"] = {int(seed): value for seed, value in item["values"].items()}
        item["differences"] = {int(seed): value for seed, value in item["differences"].items()}
        rows.append(Row(**item))
    return data, rows

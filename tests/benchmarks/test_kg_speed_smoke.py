"""``benchmarks/kg_speed.py --quick``: both libraries train and evaluate, the report has a row per model."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks import kg_speed


def test_quick_run_reports_positive_rates_for_both_libraries(tmp_path: Path) -> None:
    out = tmp_path / "kg_speed_quick.md"
    assert kg_speed.main(["--quick", "--out", str(out), "--run-dir", str(tmp_path / "runs")]) == 0
    text = out.read_text()
    assert text.startswith("# KGE speed: ssl_kd against pykeen") and "Machine: " in text
    table = [[cell.strip() for cell in line.split("|")] for line in text.splitlines() if line.startswith("| nations")]
    rows = {cells[2]: cells for cells in table}  # "", dataset, model, dim, ours/s, pykeen/s, ratio, eval ..., MRRs
    assert {"transe", "rotate"} <= set(rows)
    for arch in ("transe", "rotate"):
        ours, pykeen, ratio = (float(value) for value in rows[arch][4:7])
        assert ours > 0 and pykeen > 0 and ratio > 0
        mrr_ours, mrr_pykeen = (float(value) for value in rows[arch][10:12])
        assert abs(mrr_ours - mrr_pykeen) < 1e-3  # the same weights ranked by both evaluators
    assert re.search(r"Wall time of this run: \d+ s", text)

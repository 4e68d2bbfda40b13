"""Smoke test of benchmarks/overhead.py: the kNN section's table at a tiny size (the full run is a benchmark)."""

from __future__ import annotations

import pytest

from benchmarks.overhead import SECTIONS, knn_table, markdown


def test_sections_are_registered_in_order() -> None:
    assert list(SECTIONS)[:1] == ["pipeline"]
    assert {"probe", "knn"} <= set(SECTIONS)


def test_markdown_table_has_header_separator_and_rows() -> None:
    assert markdown(["a", "b"], [[1, 2]]).splitlines() == ["| a | b |", "| --- | --- |", "| 1 | 2 |"]


def test_knn_table_compares_backends_on_a_tiny_bank() -> None:
    pytest.importorskip("faiss")
    lines = knn_table(sizes=(500, 2_000), queries=40, repeats=1, dim=16, k=5).splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| 500 |")
    assert "/ 40 |" in lines[3]

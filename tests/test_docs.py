"""Documentation citations: code, docs and tests cite the public method notes under ``docs/methods/``.

(a) No file cites the internal method specification (its file name is assembled below, so this test does not match
itself). (b) Every ``docs/methods/<page>.md`` path cited anywhere in the repository, and every relative link between
the method notes, names a page that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

SCANNED = ("ssl_kd", "benchmarks", "eval", "tests", "pipelines", "docs", "scripts", "README.md", "pyproject.toml")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
INTERNAL_SPEC = "METHODS" + ".md"
INTERNAL_NOTES = (INTERNAL_SPEC, "ENVIRONMENT" + ".md", "STYLE" + ".md")  # the developers' notes users do not have
CITED_PAGE = re.compile(r"docs/methods/([A-Za-z0-9_.-]+?\.md)")
RELATIVE_LINK = re.compile(r"\]\(([A-Za-z0-9_.-]+\.md)(?:#[^)]*)?\)")
METHOD_NOTES = REPO / "docs" / "methods"


def scanned_files(root: Path = REPO) -> list[Path]:
    """Every text file under the scanned folders and top-level files (binary files and caches left out)."""
    files: list[Path] = []
    for name in SCANNED:
        path = root / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for candidate in candidates:
            if not candidate.is_file() or SKIPPED_DIRS.intersection(candidate.relative_to(root).parts):
                continue
            if b"\0" in candidate.read_bytes()[:4096]:
                continue
            files.append(candidate)
    return files


def internal_spec_citations(root: Path = REPO) -> list[str]:
    """``path:line`` of every line that mentions the internal specification."""
    hits = []
    for path in scanned_files(root):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if any(name in line for name in INTERNAL_NOTES):
                hits.append(f"{path.relative_to(root)}:{number}")
    return hits


def missing_pages(root: Path = REPO) -> list[str]:
    """``path:line -> page`` for every cited method-notes page that does not exist."""
    notes = root / "docs" / "methods"
    missing = []
    for path in scanned_files(root):
        in_notes = path.parent == notes
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            pages = CITED_PAGE.findall(line)
            if in_notes:
                pages += RELATIVE_LINK.findall(line)
            missing += [
                f"{path.relative_to(root)}:{number} -> {page}" for page in pages if not (notes / page).is_file()
            ]
    return missing


def test_method_notes_exist() -> None:
    assert (METHOD_NOTES / "README.md").is_file()
    assert len(list(METHOD_NOTES.glob("*.md"))) > 1


def test_no_file_cites_the_internal_specification() -> None:
    assert internal_spec_citations() == [], "cite docs/methods/<page>.md instead"


def test_every_cited_method_page_exists() -> None:
    assert missing_pages() == []


def test_every_method_page_is_in_the_index() -> None:
    index = (METHOD_NOTES / "README.md").read_text()
    pages = sorted(page.name for page in METHOD_NOTES.glob("*.md") if page.name != "README.md")
    assert [page for page in pages if f"]({page})" not in index] == []


@pytest.mark.parametrize(
    ("text", "spec_hits", "missing"),
    [
        ("see docs/methods/sokd.md, 'Switches'", 0, 0),
        (f"see {INTERNAL_SPEC} §3", 1, 0),
        ("see docs/methods/" + "no_such_method.md", 0, 1),  # split, so the repository scan does not flag this file
    ],
)
def test_checks_catch_bad_citations(tmp_path: Path, text: str, spec_hits: int, missing: int) -> None:
    notes = tmp_path / "docs" / "methods"
    notes.mkdir(parents=True)
    (notes / "sokd.md").write_text("# SOKD\n")
    (tmp_path / "ssl_kd").mkdir()
    (tmp_path / "ssl_kd" / "module.py").write_text(f'"""A module ({text})."""\n')
    assert len(internal_spec_citations(tmp_path)) == spec_hits
    assert len(missing_pages(tmp_path)) == missing

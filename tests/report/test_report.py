"""``ssl-kd report``: a self-contained HTML page with curves, results, confusion matrix and embedding."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_kd.cli import main
from ssl_kd.report import build_report

from conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def report(tiny_run: tuple[Path, Path]) -> Path:
    return build_report(tiny_run[1])


def test_report_has_every_part_and_its_pngs(report: Path, tiny_run: tuple[Path, Path]) -> None:
    html = report.read_text()
    for name in ("curves_teacher.png", "curves_distill.png", "confusion.png", "embedding.png"):
        assert (report.parent / name).stat().st_size > 1000
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', html)) == 4
    assert "<h2>Results</h2>" in html and "<td>teacher</td>" in html and "linear_top1" in html
    assert "t-SNE" in html and "confusion" in html


def test_report_references_no_external_resource(report: Path) -> None:
    html = report.read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    for forbidden in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert forbidden not in html


NO_CHROMIUM = "Debian chromium is not installed (apt-get install chromium; .ci/run installs it)"


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,2600"]
        result = subprocess.run(
            [*command, f"--screenshot={shot}", report.as_uri()], capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0 and shot.is_file(), result.stderr
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (2600, 1200)
    saturated = (pixels.max(axis=2) - pixels.min(axis=2)) > 60  # coloured plot pixels, not text or white page
    assert saturated.mean() > 0.005


def test_run_prints_the_report_path(tiny_run: tuple[Path, Path]) -> None:
    pipeline, run_dir = tiny_run
    result = subprocess.run(
        [sys.executable, "-m", "ssl_kd", "run", str(pipeline), "--run-dir", str(run_dir), "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"report: {run_dir / 'report' / 'report.html'}"


def test_report_of_a_folder_that_is_no_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", str(tmp_path / "nothing")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "is not a run folder" in err[0]

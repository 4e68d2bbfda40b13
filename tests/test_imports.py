"""Leaf packages stay leaves: importing them loads neither the methods nor the engine nor the video decoders."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO


def loaded_after(code: str, watched: list[str]) -> list[str]:
    """The modules of ``watched`` present in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {watched!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("code", "forbidden"),
    [
        (
            "import ssl_kd.losses",
            ["ssl_kd.data", "ssl_kd.methods", "ssl_kd.engine", "decord", "av", "pytorchvideo"],
        ),
        (
            "import pkgutil, importlib, ssl_kd.blocks\n"
            "for info in pkgutil.iter_modules(ssl_kd.blocks.__path__):\n"
            "    importlib.import_module(f'ssl_kd.blocks.{info.name}')",
            ["ssl_kd.methods", "ssl_kd.stages", "ssl_kd.engine.trainer"],
        ),
    ],
    ids=["losses", "blocks"],
)
def test_leaf_package_imports_stay_light(code: str, forbidden: list[str]) -> None:
    assert loaded_after(code, forbidden) == []


@pytest.mark.parametrize("package", ["ssl_kd.export", "ssl_kd.report"])
def test_public_packages_import_first_in_a_fresh_interpreter(package: str) -> None:
    """A user's ``from ssl_kd.export import export_stage`` works without loading the built-ins first."""
    result = subprocess.run([sys.executable, "-c", f"import {package}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]

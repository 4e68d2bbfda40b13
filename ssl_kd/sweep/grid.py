"""Grid expansion: ``--grid key=v1,v2`` specs x seeds -> named runs, each a list of ``ssl-kd run`` overrides.

A point's name is its ``key=value`` pairs joined by ``,`` (``tau=2,alpha=0.5``), with each key shortened to its
last part unless two grid keys share it; a run's name is ``POINT/seed=S``. Names are sanitised for the file system.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ssl_kd.config.loader import Pipeline
from ssl_kd.errors import ConfigError

DEFAULT_POINT = "default"
UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


@dataclass(frozen=True)
class GridAxis:
    """One ``--grid`` key and its values (the YAML-parsed values and the text of each)."""

    key: str
    values: tuple[Any, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its grid point, seed and the overrides that make it."""

    point: str
    seed: int
    overrides: tuple[str, ...]

    @property
    def name(self) -> str:
        """``POINT/seed=S``: the run's folder below the sweep's ``runs/``."""
        return f"{self.point}/seed={self.seed}"


def parse_grid(spec: str) -> GridAxis:
    """``key.path=v1,v2,...`` -> a :class:`GridAxis` (values parsed as YAML scalars, like overrides).

    Raises:
        ConfigError: not of that form, or a value repeated.
    """
    key, sep, text = spec.partition("=")
    key = key.strip()
    texts = tuple(part.strip() for part in text.split(","))
    if not sep or not key or not all(key.split(".")) or not all(texts):
        raise ConfigError(f"--grid {spec!r} is not of the form key.path=value1,value2,...")
    if len(set(texts)) != len(texts):
        raise ConfigError(f"--grid {spec!r} repeats a value")
    values = []
    for part in texts:
        try:
            values.append(yaml.safe_load(part))
        except yaml.YAMLError:
            values.append(part)
    return GridAxis(key, tuple(values), texts)


def _short_keys(axes: Sequence[GridAxis]) -> list[str]:
    """Each axis's key, shortened to its last part where no other axis ends the same way."""
    last = [axis.key.split(".")[-1] for axis in axes]
    return [short if last.count(short) == 1 else axis.key for short, axis in zip(last, axes, strict=True)]


def sanitise(name: str) -> str:
    """``name`` with every character outside ``A-Za-z0-9._=,+-`` replaced by ``_`` (and no leading dot)."""
    cleaned = UNSAFE.sub("_", name)
    return "_" + cleaned[1:] if cleaned.startswith(".") else cleaned


def grid_points(axes: Sequence[GridAxis]) -> list[tuple[str, tuple[str, ...]]]:
    """Every combination of the axes' values, in order (the last axis varies fastest): ``(point name, overrides)``.

    Raises:
        ConfigError: a key given twice, or two points with the same sanitised name.
    """
    keys = [axis.key for axis in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(f"--grid names {key!r} twice; give its values once, comma-separated")
    if not axes:
        return [(DEFAULT_POINT, ())]
    shorts = _short_keys(axes)
    points = []
    for combination in itertools.product(*(axis.texts for axis in axes)):
        name = sanitise(",".join(f"{short}={text}" for short, text in zip(shorts, combination, strict=True)))
        overrides = tuple(f"{axis.key}={text}" for axis, text in zip(axes, combination, strict=True))
        points.append((name, overrides))
    names = [name for name, _ in points]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"--grid: two points are both named {name!r} once sanitised; change a value")
    return points


def seed_overrides(pipeline: Pipeline, seed: int) -> tuple[str, ...]:
    """``STAGE.key=seed`` for each of the pipeline's seed keys and each stage that has it, except the fixed ones.

    The same as a bare ``key=seed`` override (which sets every stage having the key), minus the fixed stages.
    """
    section = pipeline.sweep
    overrides = []
    for key in section.seed_keys:
        head = key.split(".")[0]
        for stage in pipeline.stages:
            if stage.name not in section.fixed_seed_stages and head in type(stage).model_fields:
                overrides.append(f"{stage.name}.{key}={seed}")
    return tuple(overrides)


def expand(
    pipeline: Pipeline, axes: Sequence[GridAxis], seeds: Sequence[int], overrides: Sequence[str]
) -> list[SweepRun]:
    """The sweep's runs: every grid point x seed, overrides = common + the point's + the seed's (later ones win).

    Args:
        pipeline: the pipeline loaded with ``overrides`` (for its stages and ``sweep:`` section).
        axes: the ``--grid`` axes.
        seeds: the seed axis.
        overrides: ``key=value`` overrides of every run.

    Raises:
        ConfigError: no seeds or a seed repeated, or an invalid grid.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must be distinct integers, got {list(seeds)}")
    return [
        SweepRun(point, seed, (*overrides, *point_overrides, *seed_overrides(pipeline, seed)))
        for point, point_overrides in grid_points(axes)
        for seed in seeds
    ]

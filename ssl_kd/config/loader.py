"""Load a pipeline YAML file, apply ``key.path=value`` overrides and validate every stage.

Pipeline file layout::

    name: kd_digits
    defaults:            # merged under every stage that has these keys; the stage's own values win (null too)
      data: {name: digits}
    stages:
      - {name: teacher, kind: train, method: supervised, model: {arch: resnet18}}
      - {name: distill, kind: train, method: hinton_kd, student: {arch: mobilenet_v2}, teacher: {from: teacher}}
      - {name: probe, kind: probe, model: {from: distill}}

Overrides address a stage by name (``distill.epochs=3``), the defaults (``defaults.data.batch_size=64``) or, with no
prefix, every stage whose kind has that key (``student.arch=alexnet``, ``data.root=/data/ucf101``).

An optional top-level ``sweep:`` section is read by ``ssl-kd sweep`` only (``ssl-kd run`` ignores it; it is no part of
any stage's fingerprint)::

    sweep:
      seed_keys: [engine.seed, data.subset_seed]   # set to the seed per run (default: [engine.seed])
      fixed_seed_stages: [teacher]                 # keep the pipeline's own seeds: shared by every seed of a sweep
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from ssl_kd import builtins
from ssl_kd.config.schema import BACKBONE_FROM, MISSING_PATHS, StageConfig
from ssl_kd.errors import ConfigError, did_you_mean
from ssl_kd.registry import STAGES

TOP_LEVEL_KEYS = ("name", "description", "defaults", "stages", "sweep")
SWEEP_KEYS = ("seed_keys", "fixed_seed_stages")
DEFAULT_SEED_KEYS = ("engine.seed",)


@dataclass
class SweepSection:
    """The pipeline's ``sweep:`` section: the dotted keys a sweep sets to each seed, and the stages that keep theirs."""

    seed_keys: list[str] = field(default_factory=lambda: list(DEFAULT_SEED_KEYS))
    fixed_seed_stages: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    """A validated pipeline: its name, source file, ordered stage configs and ``sweep:`` section."""

    name: str
    path: Path
    stages: list[StageConfig]
    sweep: SweepSection = field(default_factory=SweepSection)

    def stage(self, name: str) -> StageConfig:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ConfigError(f"{self.path}: no stage named {name!r}{did_you_mean(name, self.stage_names)}")

    @property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]


def load_pipeline(path: str | Path, overrides: Sequence[str] = (), missing_paths: list[str] | None = None) -> Pipeline:
    """Read, override and validate a pipeline file.

    Args:
        path: the YAML file.
        overrides: ``key.path=value`` strings; values are parsed as YAML scalars/lists.
        missing_paths: when given, local paths (``data.root``, ``weights``) that do not exist on this machine are
            appended here, one line each naming file and stage, instead of failing (``ssl-kd validate``).

    Returns:
        The validated pipeline.

    Raises:
        ConfigError: naming the file, the stage and the key, with the nearest valid key for unknown ones.
    """
    builtins.load()
    path = Path(path)
    raw = _read_yaml(path)
    for override in overrides:
        _apply_override(raw, override, path)
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: 'defaults' must be a mapping, got {type(defaults).__name__}")
    stages = [_validate_stage(path, stage, defaults, missing_paths) for stage in raw["stages"]]
    _check_defaults_keys(path, defaults, stages)
    pipeline = Pipeline(name=str(raw["name"]), path=path, stages=stages, sweep=_sweep_section(path, raw, stages))
    _check_references(pipeline)
    return pipeline


def _sweep_section(path: Path, raw: dict[str, Any], stages: list[StageConfig]) -> SweepSection:
    """The validated ``sweep:`` section (defaults when absent)."""
    section = raw.get("sweep")
    if section is None:
        return SweepSection()
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'sweep' must be a mapping with keys {', '.join(SWEEP_KEYS)}")
    for key in section:
        if key not in SWEEP_KEYS:
            raise ConfigError(f"{path}: sweep: unknown key {key!r}{did_you_mean(str(key), SWEEP_KEYS)}")
    result = SweepSection()
    for key in SWEEP_KEYS:
        values = section.get(key, getattr(result, key))
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise ConfigError(f"{path}: sweep.{key} must be a list of strings, got {values!r}")
        setattr(result, key, list(values))
    names = [stage.name for stage in stages]
    for name in result.fixed_seed_stages:
        if name not in names:
            raise ConfigError(f"{path}: sweep.fixed_seed_stages: no stage named {name!r}{did_you_mean(name, names)}")
    fields = {key for stage in stages for key in type(stage).model_fields}
    for key in result.seed_keys:
        head = key.split(".")[0]
        if head not in fields:
            raise ConfigError(f"{path}: sweep.seed_keys: no stage has a key {head!r}{did_you_mean(head, fields)}")
    if not result.seed_keys:
        raise ConfigError(f"{path}: sweep.seed_keys must name at least one key")
    return result


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"pipeline file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a pipeline file is a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(f"{path}: unknown top-level key {key!r}{did_you_mean(str(key), TOP_LEVEL_KEYS)}")
    for key in ("name", "stages"):
        if key not in raw:
            raise ConfigError(f"{path}: missing top-level key {key!r}")
    if not isinstance(raw["stages"], list) or not raw["stages"]:
        raise ConfigError(f"{path}: 'stages' must be a non-empty list of stage mappings")
    for index, stage in enumerate(raw["stages"]):
        if not isinstance(stage, dict) or "name" not in stage:
            raise ConfigError(f"{path}: stage #{index + 1} must be a mapping with a 'name'")
    return raw


def stage_class(raw_stage: dict[str, Any]) -> type[StageConfig]:
    """The config class of a raw stage mapping, chosen by its ``kind`` (default ``train``)."""
    return STAGES.get(str(raw_stage.get("kind", "train"))).config_class_for(raw_stage)


def _apply_override(raw: dict[str, Any], override: str, path: Path) -> None:
    key, sep, text = override.partition("=")
    keys = key.strip().split(".")
    if not sep or not all(keys):
        raise ConfigError(f"override {override!r} is not of the form key.path=value")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    stages = {str(stage["name"]): stage for stage in raw["stages"]}
    if keys[0] in ("name", "description"):
        raw[keys[0]] = value
    elif keys[0] == "defaults":
        _set_nested(raw.setdefault("defaults", {}), keys[1:], value, override)
    elif keys[0] in stages:
        _set_nested(stages[keys[0]], keys[1:], value, override)
    else:
        targets = [stage for stage in raw["stages"] if keys[0] in stage_class(stage).model_fields]
        if not targets:
            known = set(stages) | {"defaults", "name"}
            for stage in raw["stages"]:
                known |= set(stage_class(stage).model_fields)
            raise ConfigError(
                f"override {override!r}: no stage of {path} has a key {keys[0]!r}{did_you_mean(keys[0], known)}"
            )
        for stage in targets:
            _set_nested(stage, keys, value, override)


def _set_nested(target: dict[str, Any], keys: list[str], value: Any, override: str) -> None:
    if not keys:
        raise ConfigError(f"override {override!r} names a stage but no key inside it")
    for key in keys[:-1]:
        child = target.get(key)
        if child is None:
            child = target[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {key!r} is a {type(child).__name__}, not a mapping")
        target = child
    target[keys[-1]] = value


def _deep_merge(base: Any, override: Any) -> Any:
    """``override`` over ``base``, key by key. An empty section (``data:`` with nothing under it, read as None)
    keeps the defaults; an explicit null for a value (``train_per_class: null``) replaces the default."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = _deep_merge(merged.get(key), value)
        return merged
    return copy.deepcopy(base) if override is None and isinstance(base, dict) else override


def _validate_stage(
    path: Path, raw_stage: dict[str, Any], defaults: dict, missing_paths: list[str] | None
) -> StageConfig:
    name = str(raw_stage["name"])
    where = f"{path}: stage {name!r}"
    try:
        cls = stage_class(raw_stage)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    merged = {key: copy.deepcopy(value) for key, value in defaults.items() if key in cls.model_fields}
    merged = _deep_merge(merged, raw_stage)
    missing: list[str] | None = None if missing_paths is None else []
    try:
        stage = cls.model_validate(merged, context={MISSING_PATHS: missing})
    except ValidationError as err:
        raise ConfigError("\n".join(_describe_error(where, cls, e) for e in err.errors())) from None
    if missing_paths is not None:
        missing_paths.extend(f"{where}: {message}" for message in missing)
    return stage


def _describe_error(where: str, cls: type[BaseModel], error: dict[str, Any]) -> str:
    loc = [part for part in error["loc"] if isinstance(part, str)]
    dotted = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        valid = _fields_at(cls, loc[:-1])
        return f"{where}: unknown key {dotted!r}{did_you_mean(loc[-1], valid)}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{where}: missing key {dotted!r}"
    shown = f" (got {error['input']!r})" if not isinstance(error.get("input"), dict) else ""
    return f"{where}: {dotted or 'stage'}: {message}{shown}"


def _fields_at(cls: type[BaseModel], loc: list[str]) -> list[str]:
    """Valid keys of the nested schema reached by following ``loc`` from ``cls``."""
    for part in loc:
        field = cls.model_fields.get(part)
        nested = _model_in(field.annotation) if field is not None else None
        if nested is None:
            return []
        cls = nested
    return [field.alias or name for name, field in cls.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _check_defaults_keys(path: Path, defaults: dict[str, Any], stages: list[StageConfig]) -> None:
    known = set()
    for stage in stages:
        known |= set(type(stage).model_fields)
    for key in defaults:
        if key not in known:
            raise ConfigError(f"{path}: defaults: no stage uses key {key!r}{did_you_mean(str(key), known)}")


def _check_references(pipeline: Pipeline) -> None:
    seen: dict[str, StageConfig] = {}
    for stage in pipeline.stages:
        if stage.name in seen:
            raise ConfigError(f"{pipeline.path}: two stages are named {stage.name!r}")
        for field_name, target in stage.references().items():
            key = field_name if field_name.endswith(f".{BACKBONE_FROM}") else f"{field_name}.from"
            where = f"{pipeline.path}: stage {stage.name!r}: {key}"
            if target not in seen:
                later = target in pipeline.stage_names
                reason = "comes later; a stage can only use earlier stages" if later else "is not a stage"
                hint = "" if later else did_you_mean(target, seen)
                raise ConfigError(f"{where}: {target!r} {reason}{hint}")
            provides = STAGES.get(seen[target].kind).provides
            if "model" not in provides:
                raise ConfigError(f"{where}: stage {target!r} ({seen[target].kind}) provides no model")
        seen[stage.name] = stage

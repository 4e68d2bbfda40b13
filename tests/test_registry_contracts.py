"""One contract per registry: every registered model, dataset, method, stage kind and domain follows the same rules.

A component added later (a new domain's package included) is checked by these tests without a line of its own.
"""

from __future__ import annotations

import inspect
import re
import typing

import pytest

from ssl_kd import builtins
from ssl_kd.config.schema import DatasetConfig, StageConfig, TrainStageConfig
from ssl_kd.engine.domain import Domain
from ssl_kd.engine.method import TrainableMethod
from ssl_kd.registry import DATASETS, DOMAINS, METHODS, MODELS, STAGES, DatasetEntry
from ssl_kd.stages.base import Stage

builtins.load()
KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def _documented(obj: object) -> bool:
    return bool((inspect.getdoc(obj) or "").strip())


@pytest.mark.parametrize("key", list(METHODS))
def test_method_contract(key: str) -> None:
    method = METHODS.get(key)
    assert KEY.match(key) and issubclass(method, TrainableMethod) and _documented(method)
    assert issubclass(method.config_class, TrainStageConfig), "config_class must be a TrainStageConfig"
    assert method.domains and all(domain in DOMAINS for domain in method.domains), method.domains
    data_class = typing.get_type_hints(method.config_class)["data"]
    assert issubclass(data_class, DatasetConfig)
    assert set(method.domains) <= set(data_class.domains), f"{key}: its data config reads {data_class.domains}"
    assert method.update_phases >= 1


@pytest.mark.parametrize("key", list(DATASETS))
def test_dataset_contract(key: str) -> None:
    entry = DATASETS.get(key)
    assert KEY.match(key) and isinstance(entry, DatasetEntry) and entry.domain in DOMAINS
    assert callable(entry.build) and _documented(entry.build)
    able = [name for name, method in METHODS.items() if entry.domain in method.domains]
    assert able, f"no method trains on {key}'s domain {entry.domain}"


@pytest.mark.parametrize("key", list(DOMAINS))
def test_domain_contract(key: str) -> None:
    domain = DOMAINS.get(key)
    assert isinstance(domain, Domain) and domain.name == key and _documented(type(domain))
    assert domain.headline_metrics, "the results table needs the domain's headline metrics"
    for hook in ("load", "train_loader", "evaluator"):
        assert getattr(type(domain), hook) is not getattr(Domain, hook), f"{key} does not implement {hook}"
    assert any(entry.domain == key for _, entry in DATASETS.items()), f"no dataset of domain {key}"


@pytest.mark.parametrize("key", list(STAGES))
def test_stage_contract(key: str) -> None:
    stage = STAGES.get(key)
    assert KEY.match(key) and issubclass(stage, Stage) and _documented(stage)
    assert issubclass(stage.config_class, StageConfig)
    kind = typing.get_type_hints(stage.config_class)["kind"]
    assert typing.get_args(kind) == (key,), f"{key}: its config's kind is {kind}"


@pytest.mark.parametrize("key", list(MODELS))
def test_model_contract(key: str) -> None:
    build = MODELS.get(key)
    assert KEY.match(key.replace(":", "_")) and callable(build) and _documented(build)

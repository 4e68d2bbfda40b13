"""``ssl-kd report RUN_DIR``: training curves, results table, probe confusion matrix, a 2-D embedding, detections.

Everything comes from files a run already wrote: ``pipeline.yaml`` (the stages), ``results.json``, each stage's
``history.json`` and ``metrics.json``, and the probe stage's feature cache (``probe/features/*.npz``). Without a
probe cache the features of the run's last model are extracted (as ``ssl-kd extract`` would, in memory). A detection
stage's detector is run on the first test images of its own data config (:mod:`ssl_kd.report.detections`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from ssl_kd import builtins
from ssl_kd.detection.domain import DOMAIN as DETECTION
from ssl_kd.engine.checkpoint import load_checkpoint
from ssl_kd.errors import SslKdError
from ssl_kd.evaluation.extract import stage_features
from ssl_kd.evaluation.features import load_features
from ssl_kd.report.analysis import FeatureSet, confusion_matrix, embed_2d, probe_predictions
from ssl_kd.report.detections import detections_section
from ssl_kd.report.figures import confusion_figure, curves_figure, embedding_figure, to_png
from ssl_kd.report.gates import gates_section
from ssl_kd.report.html import Section, render_page
from ssl_kd.scheduler import headline_metrics

REPORT_DIR = "report"
REPORT_FILE = "report.html"
LOG = logging.getLogger("ssl_kd")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def run_stages(run_dir: Path) -> list[dict[str, Any]]:
    """The stage configs of a run, in order (from ``pipeline.yaml``).

    Raises:
        SslKdError: ``run_dir`` is not a run folder.
    """
    path = run_dir / "pipeline.yaml"
    if not path.is_file():
        runs = sorted(p.parent.name for p in run_dir.parent.glob("*/pipeline.yaml"))
        raise SslKdError(
            f"{run_dir} is not a run folder (no pipeline.yaml); runs beside it: {', '.join(runs) or 'none'}"
        )
    return yaml.safe_load(path.read_text())["stages"]


def _is_classifier_stage(stage_dir: Path) -> bool:
    """Whether the stage wrote an image or video classifier's model (its metadata names classes and no detection
    domain), the only models whose features the report can plot; other domains' models (e.g. KG embeddings) have
    curves and metrics only, detectors also their detections."""
    path = stage_dir / "model.pt"
    meta = (load_checkpoint(path).get("meta") or {}) if path.is_file() else {}
    return "class_names" in meta and meta.get("domain") != DETECTION


def _class_names(run_dir: Path, model_stage: str | None, num_classes: int) -> list[str]:
    path = run_dir / str(model_stage) / "model.pt"
    names = load_checkpoint(path).get("meta", {}).get("class_names") if path.is_file() else None
    return list(names) if names and len(names) == num_classes else [str(i) for i in range(num_classes)]


def probe_feature_set(run_dir: Path, stages: list[dict[str, Any]]) -> FeatureSet | None:
    """The first probe stage's cached features, else the last model's features extracted now (None: no model)."""
    for stage in stages:
        tap = (stage.get("taps") or ["features"])[0]
        cache = run_dir / stage["name"] / "features"
        if stage["kind"] == "probe" and (cache / f"{tap}_test.npz").is_file():
            (train_x, train_y), (test_x, test_y) = (load_features(cache / f"{tap}_{s}.npz") for s in ("train", "test"))
            model_stage = stage.get("model", {}).get("from")
            num_classes = int(max(train_y.max(), test_y.max())) + 1
            names = _class_names(run_dir, model_stage, num_classes)
            title = f"{tap} of stage {model_stage} (probe stage {stage['name']})"
            return FeatureSet(title, train_x, train_y, test_x, test_y, names)
    with_model = [s["name"] for s in stages if _is_classifier_stage(run_dir / s["name"])]
    if not with_model:
        return None
    features, num_classes = stage_features(run_dir / with_model[-1])
    names = _class_names(run_dir, with_model[-1], num_classes)
    return FeatureSet(f"features of stage {with_model[-1]}", *features["train"], *features["test"], names)


def results_section(stages: list[dict[str, Any]], results: dict[str, Any]) -> Section:
    """The headline table (as printed at the end of a run) and every stage's full metrics."""
    titles = headline_metrics()
    shown = [m for m in titles if any(m in (results.get(s["name"]) or {}) for s in stages)]
    rows = [[s["name"], s["kind"], *(_fmt((results.get(s["name"]) or {}).get(m)) for m in shown)] for s in stages]
    section = Section("Results", tables=[(["stage", "kind", *(titles[m] for m in shown)], rows)])
    for stage in stages:
        metrics = results.get(stage["name"]) or {}
        if metrics:
            section.tables.append(([f"{stage['name']}: metric", "value"], [[k, _fmt(v)] for k, v in metrics.items()]))
    section.paragraphs.append("Accuracies are fractions of the test split; probe settings are chosen on train.")
    return section


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def curves_section(run_dir: Path, stages: list[dict[str, Any]], out_dir: Path) -> Section:
    """One loss + accuracy figure per stage that wrote a ``history.json``."""
    section = Section("Training curves")
    for stage in stages:
        history = _read_json(run_dir / stage["name"] / "history.json")
        if history:
            metrics = _read_json(run_dir / stage["name"] / "metrics.json") or {}
            png = to_png(curves_figure(stage["name"], history, metrics))
            (out_dir / f"curves_{stage['name']}.png").write_bytes(png)
            section.images.append((f"training curves of {stage['name']}", png))
    if not section.images:
        section.paragraphs.append("No stage of this run recorded per-epoch curves.")
    return section


def features_section(features: FeatureSet, out_dir: Path) -> Section:
    """The probe's confusion matrix on test and a t-SNE of the test features coloured by class."""
    predicted, wd = probe_predictions(features)
    true = features.test_y.numpy()
    matrix = confusion_matrix(true, predicted, len(features.class_names))
    accuracy = float((predicted == true).mean())
    confusion = to_png(
        confusion_figure(matrix, features.class_names, f"linear probe on test: top-1 {accuracy:.3f} (wd {wd:g})")
    )
    embedding = to_png(
        embedding_figure(embed_2d(features.test_x), true, features.class_names, f"t-SNE of test {features.title}")
    )
    (out_dir / "confusion.png").write_bytes(confusion)
    (out_dir / "embedding.png").write_bytes(embedding)
    return Section(
        "Frozen features",
        paragraphs=[f"Source: {features.title}. Linear probe weight decay chosen on a split of train."],
        images=[("probe confusion matrix", confusion), ("t-SNE embedding of the test features", embedding)],
    )


def build_report(run_dir: Path) -> Path:
    """Write ``RUN_DIR/report/report.html`` (self-contained) and its PNGs; return the HTML path."""
    builtins.load()  # every domain's headline metrics
    run_dir = Path(run_dir)
    stages = run_stages(run_dir)
    out_dir = run_dir / REPORT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    results = _read_json(run_dir / "results.json") or {}
    sections = [results_section(stages, results), curves_section(run_dir, stages, out_dir)]
    gates = gates_section(run_dir, stages, out_dir)
    if gates is not None:
        sections.append(gates)
    detections = detections_section(run_dir, stages, out_dir)
    if detections is not None:
        sections.append(detections)
    features = probe_feature_set(run_dir, stages)
    if features is not None:
        sections.append(features_section(features, out_dir))
    path = out_dir / REPORT_FILE
    path.write_text(render_page(f"ssl_kd run {run_dir.name}", sections))
    LOG.info("report: %s", path)
    return path

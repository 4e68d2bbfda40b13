"""Graph distillation from several self-supervised video teachers into one small student (docs/methods/video_graph.md).

Zhang, Peng, "Better and Faster: Knowledge Transfer from Multiple Self-supervised Learning Tasks via Graph
Distillation for Video Classification", IJCAI-18, arXiv 1804.10069. Status: both graphs, several self-supervised
teachers and a lighter student are [verified: abstract]; EMD matching and compact bilinear pair nodes are
[third-party]; every formula below is a [reconstruction]::

    teachers k = 1..K (frozen, eval): logits z_k, features f_k;  student: logits z_s, features h_s
    L_logit = sum_k w_k * D(softmax(z_s / tau), softmax(z_k / tau))       (losses.LogitsGraphLoss)
    D = EMD under the 0/1 ground metric (logit_match: emd), or tau^2 * KL(p_k || p_s) (logit_match: kl)
    g_kl = pair(f_k, f_l) for k < l        (pairing: cbp = compact bilinear pooling to rep_dim, or concat)
    L_rep = mean_{k<l} d(phi_kl(h_s), g_kl)                               (losses.RepresentationGraphLoss)
    L = ce_weight * CE(z_s, y) + logit_weight * L_logit + rep_weight * L_rep

``d`` defaults to 1 - cos (``rep_loss: cosine``), a deviation from the first reconstruction's ||.||^2
(``rep_loss: mse``, see docs/methods/video_graph.md): on the moving digits the squared distance between the
unnormalised adapter output and the unit-norm pair node starts near 11 (CE about 2) and its first steps killed the
student's features (CE stayed at chance for the whole run, test top-1 0.125), while the bounded cosine trained
normally.

``logits_graph`` and ``representation_graph`` switch each term off for ablations (both off: the student alone).
The teachers are adapted to the target classes first (``method: adapt``); the adapters phi_kl are trained with the
student and dropped afterwards.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from ssl_kd.blocks.compact_bilinear import CompactBilinearPooling, ConcatPairing
from ssl_kd.blocks.teacher_outputs import frozen_forward
from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.losses import LogitsGraphLoss, RepresentationGraphLoss
from ssl_kd.methods.base import Method, MethodEnv, label_loss, register_method
from ssl_kd.models import BackboneModel


class GraphDistillConfig(TrainStageConfig):
    """``method: graph_distill``. Defaults per docs/methods/video_graph.md [reconstruction]: tau = 1, d = 2048,
    weights 1; the cosine representation criterion is this project's choice (see the module docstring)."""

    method: Literal["graph_distill"] = "graph_distill"
    student: ModelSpec
    teachers: list[ModelSpec] = Field(min_length=1, description="adapted teachers, normally [{from: STAGE}, ...]")
    logits_graph: bool = Field(True, description="the logits-graph term (EMD to every teacher)")
    representation_graph: bool = Field(True, description="the representation-graph term (needs >= 2 teachers)")
    tau: float = Field(1.0, gt=0)
    logit_match: Literal["emd", "kl"] = Field(
        "emd", description="edge criterion of the logits graph: emd (the default), or tau^2 * KL as in Hinton KD"
    )
    teacher_weights: Literal["uniform", "pairwise_emd"] = "uniform"
    pairing: Literal["cbp", "concat"] = "cbp"
    rep_dim: int = Field(2048, ge=8, description="compact bilinear pooling dimension d")
    rep_loss: Literal["mse", "cosine"] = Field(
        "cosine", description="cosine (default): 1 - cos; mse: squared distance (collapsed the student here)"
    )
    ce_weight: float = Field(1.0, ge=0)
    logit_weight: float = Field(1.0, ge=0, description="lambda_l")
    rep_weight: float = Field(1.0, ge=0, description="lambda_r")
    sketch_seed: int = Field(0, description="seed of the count-sketch hashes and signs")

    @model_validator(mode="after")
    def _pairs_need_two_teachers(self) -> GraphDistillConfig:
        if self.representation_graph and len(self.teachers) < 2:
            raise ValueError("representation_graph needs at least two teachers (it matches teacher pairs)")
        return self

    def references(self) -> dict[str, str]:
        refs = super().references()
        refs |= {f"teachers.{i}": spec.from_ for i, spec in enumerate(self.teachers) if spec.from_ is not None}
        return refs


@register_method("graph_distill")
class GraphDistill(Method):
    """CE + logits graph + representation graph from K frozen teachers (each term switchable).

    On partly labelled data (``data.labelled_per_class``) CE covers the labelled clips and both graphs every clip.
    """

    config_class = GraphDistillConfig
    partial_labels = True

    def __init__(self, cfg: GraphDistillConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = env.load_model(cfg.student, env.facts.num_classes)
        self.teachers = nn.ModuleList([env.load_model(spec, env.facts.num_classes) for spec in cfg.teachers])
        self.freeze("teachers")
        self.ce = label_loss(cfg)
        self.logit_loss = LogitsGraphLoss(cfg.tau, cfg.teacher_weights, criterion=cfg.logit_match)
        self.rep_loss = RepresentationGraphLoss(cfg.rep_loss)
        self.pairs = list(itertools.combinations(range(len(self.teachers)), 2)) if cfg.representation_graph else []
        dims = [teacher.feature_dim for teacher in self.teachers]
        self.pairings = nn.ModuleList([self._pairing(dims[k], dims[m], i) for i, (k, m) in enumerate(self.pairs)])
        out_dims = [cfg.rep_dim if cfg.pairing == "cbp" else dims[k] + dims[m] for k, m in self.pairs]
        self.adapters = nn.ModuleList([nn.Linear(self.student.feature_dim, d) for d in out_dims])

    def _pairing(self, dim_x: int, dim_y: int, index: int) -> nn.Module:
        if self.cfg.pairing == "concat":
            return ConcatPairing()
        return CompactBilinearPooling(dim_x, dim_y, self.cfg.rep_dim, seed=self.cfg.sketch_seed * 1000 + index)

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        student = self.student.forward_taps(images, ("features", "logits"))
        terms = {"ce": cfg.ce_weight * self.ce(student["logits"], labels)}
        if not (cfg.logits_graph or self.pairs):  # both graphs off: the student alone
            return terms
        outputs = [frozen_forward(teacher.forward_taps, images, ("features", "logits")) for teacher in self.teachers]
        if cfg.logits_graph:
            teacher_logits = torch.stack([out["logits"] for out in outputs])
            terms["logits_graph"] = cfg.logit_weight * self.logit_loss(student["logits"], teacher_logits)
        if self.pairs:
            terms["rep_graph"] = cfg.rep_weight * self._representation_graph(student["features"], outputs)
        return terms

    def _representation_graph(self, student_features: Tensor, outputs: list[dict[str, Tensor]]) -> Tensor:
        """Mean over teacher pairs (k, m) of d(phi_km(h_s), pair(f_k, f_m)); pair targets without gradient."""
        losses = []
        for pairing, adapter, (k, m) in zip(self.pairings, self.adapters, self.pairs, strict=True):
            target = frozen_forward(pairing, outputs[k]["features"], outputs[m]["features"])
            losses.append(self.rep_loss(adapter(student_features)[None], target[None]))
        return torch.stack(losses).mean()

    def output_model(self) -> BackboneModel:
        return self.student

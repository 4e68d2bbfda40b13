"""ReKD: relation knowledge distillation from a heterogeneous teacher into a lightweight student.

Zheng, Wang, Yuan, "Boosting Contrastive Learning with Relation Knowledge Distillation", AAAI-22, arXiv 2112.04174.
docs/methods/rekd.md. The idea (heterogeneous teacher, relations as the semantic labels of a supervised-contrastive
loss) is [verified: abstract]; the loss below is the documented [reconstruction], and each switch is one of its
variants.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ssl_kd.blocks.memory import KeyQueue, ProjectedEncoder, momentum_copy, momentum_update, shuffled_keys
from ssl_kd.blocks.relation_miner import kmeans, prototype_ema, prototype_positives, topk_positives
from ssl_kd.config.schema import ModelSpec
from ssl_kd.losses import InfoNCE, MultiPositiveContrast, RelationKL
from ssl_kd.methods.base import MethodEnv, register_method
from ssl_kd.methods.distillation import DistillationMethod
from ssl_kd.methods.self_supervised import SelfSupervisedConfig, SelfSupervisedMethod
from ssl_kd.models import BackboneModel


class ReKDConfig(SelfSupervisedConfig):
    """``method: rekd``. Defaults follow docs/methods/rekd.md; values marked [reconstruction] are the project's."""

    method: Literal["rekd"] = "rekd"
    student: ModelSpec
    teacher: ModelSpec = Field(description="heterogeneous teacher, usually {from: a self-supervised stage}")
    teacher_mode: Literal["offline", "online"] = Field(
        "online", description="offline: frozen teacher; online: teacher keeps training with its own MoCo loss"
    )
    queue_size: int = Field(65536, ge=1, description="K of the aligned student/teacher queues Q_S, Q_T")
    momentum: float = Field(0.999, ge=0, lt=1, description="key-encoder EMA (student, and online teacher)")
    relation_loss: Literal["supcon", "kl"] = Field("supcon", description="multi-positive contrast, or relation KL")
    relation_weight: float = Field(1.0, ge=0, description="lambda [reconstruction]")
    student_instance_loss: bool = Field(True, description="add the student's own MoCo InfoNCE")
    miner: Literal["prototypes", "topk"] = Field("prototypes", description="how supcon positives are mined")
    num_prototypes: int | None = Field(None, ge=2, description="M; default 3 x number of classes [reconstruction]")
    prototype_momentum: float = Field(0.99, ge=0, lt=1, description="beta of the prototype EMA [reconstruction]")
    kmeans_every: int = Field(
        1, ge=0, description="epochs between k-means refreshes of the prototypes on Q_T; 0: never"
    )
    topk: int = Field(5, ge=1, description="positives per query for miner=topk")
    relation_bank: Literal["queue", "prototypes"] = Field("queue", description="the bank of relation_loss=kl")
    kl_teacher_temperature: float = Field(0.04, ge=1e-3)
    kl_student_temperature: float = Field(0.04, ge=1e-3)


@register_method("rekd")
class ReKD(SelfSupervisedMethod, DistillationMethod):
    """L = L_ins^S + lambda * L_rel (+ L_ins^T with an online teacher).

    Student: MoCo v2 (q_i from view 1, momentum key k_i from view 2, queue Q_S). Teacher embedding u_i of view 2:
    the frozen teacher's normalised features (offline) or the online teacher's momentum key (online, trained with
    InfoNCE against Q_T). Q_T is written with Q_S through one pointer, so slot j of both holds the same image.

    - ``relation_loss: supcon`` (default): P(i) = {k_i} + {j in Q_S: teacher says j relates to i}; with
      ``miner: prototypes`` j relates to i when argmax_m u.c_m agrees (prototypes C: EMA of assigned u, refreshed by
      k-means on Q_T); with ``miner: topk`` j is among the top-k of u_i.Q_T.
      L_rel = mean_i -1/|P(i)| sum_{p in P(i)} log softmax([q.k, q.Q_S] / T)_p.
    - ``relation_loss: kl``: L_rel = KL(softmax(u.B_T / T_t) || softmax(s.B_S / T_s)); ``relation_bank: queue``
      uses B_T = Q_T, B_S = Q_S, s = q (CompRess-2q); ``prototypes`` uses B_T = B_S = C, s = norm(W q).
    """

    config_class = ReKDConfig

    def __init__(self, cfg: ReKDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student_query = ProjectedEncoder(env.load_model(cfg.student, None), cfg.dim, cfg.hidden_dim)
        self.student_key = momentum_copy(self.student_query)
        if cfg.teacher_mode == "online":
            self.teacher_query = ProjectedEncoder(env.load_model(cfg.teacher, None), cfg.dim, cfg.hidden_dim)
            self.teacher_key = momentum_copy(self.teacher_query)
            teacher_dim = cfg.dim
        else:
            teacher_dim = self.load_teacher(cfg.teacher, None).feature_dim
        self.queue = KeyQueue(cfg.queue_size, {"student": cfg.dim, "teacher": teacher_dim})
        self.num_prototypes = cfg.num_prototypes or 3 * env.facts.num_classes
        self.register_buffer("prototypes", F.normalize(torch.randn(self.num_prototypes, teacher_dim), dim=1))
        self.register_buffer("prototypes_ready", torch.zeros((), dtype=torch.bool))
        self._prototypes_checked = False
        if cfg.relation_loss == "kl" and cfg.relation_bank == "prototypes":
            self.to_teacher_space = nn.Linear(cfg.dim, teacher_dim)
        self.info_nce = InfoNCE(cfg.temperature)
        self.supcon = MultiPositiveContrast(cfg.temperature)
        self.relation_kl = RelationKL(cfg.kl_teacher_temperature, cfg.kl_student_temperature)

    def training_step(self, images: list[Tensor], labels: None) -> dict[str, Tensor]:
        view_1, view_2 = images
        query = self.student_query(view_1)
        with torch.no_grad():
            momentum_update(self.student_key, self.student_query, self.cfg.momentum)
            key = shuffled_keys(self.student_key, view_2, self.cfg.key_bn_splits)
        teacher, terms = self._teacher_embedding(view_1, view_2)
        if self.cfg.student_instance_loss:
            terms["info_nce"] = self.info_nce(query, key, self.queue.bank("student"))
        if self._uses_prototypes():
            self._init_prototypes(teacher)
        terms["relation"] = self.cfg.relation_weight * self._relation_loss(query, key, teacher)
        if self._uses_prototypes():
            self.prototypes = prototype_ema(self.prototypes, teacher, self.cfg.prototype_momentum)
        self.queue.enqueue(student=key, teacher=teacher)
        return terms

    def _teacher_embedding(self, view_1: Tensor, view_2: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """u of view 2 (no gradient), and the online teacher's own InfoNCE term."""
        if self.cfg.teacher_mode == "offline":
            return F.normalize(self.teacher_forward(view_2, via="forward_features").float(), dim=1), {}
        teacher_query = self.teacher_query(view_1)
        with torch.no_grad():
            momentum_update(self.teacher_key, self.teacher_query, self.cfg.momentum)
            teacher_key = shuffled_keys(self.teacher_key, view_2, self.cfg.key_bn_splits).float()
        loss = self.info_nce(teacher_query, teacher_key, self.queue.bank("teacher"))
        return teacher_key, {"teacher_info_nce": loss}

    def _relation_loss(self, query: Tensor, key: Tensor, teacher: Tensor) -> Tensor:
        cfg = self.cfg
        queue_student, queue_teacher = self.queue.bank("student"), self.queue.bank("teacher")
        if cfg.relation_loss == "kl" and cfg.relation_bank == "queue":
            return self.relation_kl(query, queue_student, teacher, queue_teacher)
        if cfg.relation_loss == "kl":
            student = F.normalize(self.to_teacher_space(query), dim=1)
            return self.relation_kl(student, self.prototypes, teacher, self.prototypes)
        if cfg.miner == "topk":
            positives = topk_positives(teacher, queue_teacher, cfg.topk)
        else:
            positives = prototype_positives(teacher, queue_teacher, self.prototypes)
        return self.supcon(query, key, queue_student, positives)

    def _uses_prototypes(self) -> bool:
        cfg = self.cfg
        return (cfg.relation_loss == "supcon" and cfg.miner == "prototypes") or cfg.relation_bank == "prototypes"

    @torch.no_grad()
    def _init_prototypes(self, teacher: Tensor) -> None:
        """Seed the prototypes from the first batch's teacher embeddings (one host sync per process)."""
        if self._prototypes_checked:
            return
        self._prototypes_checked = True
        if bool(self.prototypes_ready):
            return
        picks = torch.randint(len(teacher), (self.num_prototypes,), device=teacher.device)
        picks[: min(len(teacher), self.num_prototypes)] = torch.randperm(len(teacher), device=teacher.device)[
            : self.num_prototypes
        ]
        jitter = 0.01 * torch.randn_like(self.prototypes)
        self.prototypes.copy_(F.normalize(teacher[picks] + jitter, dim=1))
        self.prototypes_ready.fill_(True)

    def on_epoch_end(self, epoch: int) -> None:
        every = self.cfg.kmeans_every
        if self._uses_prototypes() and every and (epoch + 1) % every == 0:
            self.prototypes = kmeans(self.queue.bank("teacher"), self.prototypes)

    def output_model(self) -> BackboneModel:
        return self.student_query.backbone

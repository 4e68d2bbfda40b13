"""``htd``: topology distillation of a frozen BPR-MF teacher into a small BPR-MF student (HTD, or FTD).

Kang, Hwang, Kweon, Yu, "Topology Distillation for Recommender System", KDD 2021, arXiv 2106.08700; as in the
official code (SeongKu-Kang/Topology_Distillation_KDD21), docs/methods/htd.md. The batch's nodes are its distinct
users and items (positives and negatives); s, t their student and teacher embeddings::

    topology: htd   L = L_BPR + λ_TD · [α (L_ent + L_group) + (1 − α) L_GA]
    topology: ftd   L = L_BPR + λ_TD · L_FTD

with the terms of ``ssl_kd.losses.topology``: groups g(e) = argmax v(t_e) (users in groups 0..K−1, items in
K..2K−1; with ``shared_groups``, this library's variant, one assigner v puts both in 0..K−1), L_GA with
Gumbel-softmax assignments at τ = max(1e-10, (1e-10)^(epoch / epochs)). The teacher is a frozen earlier stage; the
output model is the student.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ssl_kd.blocks.epoch_counter import EpochCounter
from ssl_kd.config.schema import ModelSpec
from ssl_kd.engine.method import MethodEnv, register_method
from ssl_kd.losses.bpr import BPRLoss
from ssl_kd.losses.topology import (
    FullTopologyLoss,
    GroupAssignmentLoss,
    HierarchicalTopologyLoss,
    annealed_temperature,
    gumbel_noise,
    gumbel_softmax,
)
from ssl_kd.recsys.domain import InteractionBatch
from ssl_kd.recsys.groups import GroupAssigner, GroupProjectors
from ssl_kd.recsys.methods.base import RecMethod, RecTrainConfig, bpr_mf_model
from ssl_kd.recsys.models import BPRMF


class HTDConfig(RecTrainConfig):
    """Topology distillation's switches (docs/methods/htd.md, 'Switches')."""

    student: ModelSpec
    teacher: ModelSpec
    topology: Literal["htd", "ftd"] = Field("htd", description="htd: hierarchical topology; ftd: full topology")
    group_level: Literal["p_e", "p_p"] = Field(
        "p_e", description="HTD group level: prototype-entity (p_e) or prototype-prototype (p_p) similarities"
    )
    positive_teacher_pairs_only: bool = Field(
        True, description="HTD entity level: only same-group pairs with a positive teacher cosine"
    )
    lambda_td: float = Field(1e-3, ge=0, description="weight λ_TD of the topology distillation terms")
    alpha: float = Field(0.5, ge=0, le=1, description="HTD: α (topology) against 1 − α (group assignment)")
    num_groups: int = Field(30, ge=1, description="HTD: K groups for users and K for items")
    shared_groups: bool = Field(
        False,
        description="HTD: one assigner puts users and items into the same K groups, so the entity level also pairs "
        "users with items (this library's variant; the code keeps users and items apart)",
    )


@register_method("htd")
class HTD(RecMethod):
    """BPR on the student plus the teacher's topology (hierarchical: within and between groups; or full)."""

    config_class = HTDConfig

    def __init__(self, cfg: HTDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = bpr_mf_model(cfg.student, env)
        self.teacher = bpr_mf_model(cfg.teacher, env)
        self.freeze("teacher")
        self.bpr = BPRLoss()
        self.epochs = EpochCounter()
        if cfg.topology == "ftd":
            self.full = FullTopologyLoss()
            return
        groups, student_dim, teacher_dim = cfg.num_groups, self.student.dim, self.teacher.dim
        self.user_assigner = GroupAssigner(teacher_dim, groups)
        if not cfg.shared_groups:
            self.item_assigner = GroupAssigner(teacher_dim, groups)
        self.user_projectors = GroupProjectors(groups, student_dim, teacher_dim)
        self.item_projectors = GroupProjectors(groups, student_dim, teacher_dim)
        self.hierarchical = HierarchicalTopologyLoss(cfg.group_level, cfg.positive_teacher_pairs_only)
        self.assignment = GroupAssignmentLoss()

    def on_epoch_end(self, epoch: int) -> None:
        self.epochs.increment()

    def training_step(self, batch: InteractionBatch) -> dict[str, Tensor]:
        cfg: HTDConfig = self.cfg
        bpr = self.bpr(self.student(batch.users, batch.positives), self.student(batch.users, batch.negatives))
        student_users, student_items = self.student.user(batch.batch_users), self.student.item(batch.batch_items)
        teacher_users, teacher_items = self.teacher.user(batch.batch_users), self.teacher.item(batch.batch_items)
        student = torch.cat([student_users, student_items])
        teacher = torch.cat([teacher_users, teacher_items])
        if cfg.topology == "ftd":
            return {"bpr": bpr, "ftd": cfg.lambda_td * self.full(student, teacher)}

        user_probabilities = self.user_assigner(teacher_users)
        item_probabilities = (self.user_assigner if cfg.shared_groups else self.item_assigner)(teacher_items)
        item_offset = 0 if cfg.shared_groups else cfg.num_groups
        groups = torch.cat([user_probabilities.argmax(1), item_probabilities.argmax(1) + item_offset])
        terms = self.hierarchical(student, teacher, groups, cfg.num_groups + item_offset)
        temperature = annealed_temperature(self.epochs.value, cfg.epochs)
        assignment = self.assignment(
            teacher_users,
            self.user_projectors(
                student_users,
                gumbel_softmax(user_probabilities, temperature, gumbel_noise(user_probabilities)),
            ),
        ) + self.assignment(
            teacher_items,
            self.item_projectors(
                student_items,
                gumbel_softmax(item_probabilities, temperature, gumbel_noise(item_probabilities)),
            ),
        )
        weight = cfg.lambda_td * cfg.alpha
        return {
            "bpr": bpr,
            "entity_topology": weight * terms.entity,
            "group_topology": weight * terms.group,
            "group_assignment": cfg.lambda_td * (1 - cfg.alpha) * assignment,
        }

    def output_model(self) -> BPRMF:
        return self.student

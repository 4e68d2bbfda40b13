"""``dualde``: DualDE distillation of a high-dimensional KGE teacher into a low-dimensional student.

Zhu et al., "DualDE: Dually Distilling Knowledge Graph Embedding for Faster and Cheaper Reasoning", WSDM 2022,
arXiv 2009.05912 (docs/methods/dualde.md). Per triple τ (positives and their negatives), with the soft-label weight
w(τ) = σ(a · (f_T(τ) + b)) computed from the *other* model's score (learnable a, b per side)::

    stage 1 (teacher frozen):  L^S = Σ_τ [ w_S · L_soft + (1 − w_S) · L_hard^S ]
    stage 2 (both adapt):      L^S + L^T, L^T the same form for the teacher with w_T from the student's scores
    L_soft = H(σ f_T, σ f_S) + H(cos(e_h^T, e_t^T), cos(e_h^S, e_t^S)) + H(‖e_h^T‖/‖e_t^T‖, ‖e_h^S‖/‖e_t^S‖)

A pipeline runs the teacher (``kge``), then ``dualde`` with ``stage: 1``, then ``dualde`` with ``stage: 2`` whose
student is loaded ``from`` the stage-1 stage (so it starts from the stage-1 weights, never re-initialised) and whose
teacher is loaded from the teacher stage. The output model is the student. "Plain soft-label KD" is the same method
with ``soft_weight: constant`` and the two structure terms off (``cosine_weight: 0``, ``norm_weight: 0``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor

from ssl_kd.blocks.teacher_outputs import frozen_forward
from ssl_kd.config.schema import ModelSpec
from ssl_kd.engine.method import MethodEnv, register_method
from ssl_kd.kg.domain import TripleBatch
from ssl_kd.kg.methods.base import KGMethod, KGTrainConfig, kge_model
from ssl_kd.kg.models import KGEModel
from ssl_kd.kg.negatives import corrupted_triples
from ssl_kd.kg.teacher_table import TABLE_BYTES_LIMIT, TeacherTable, table_bytes
from ssl_kd.losses.dualde import DualDELoss, KGScores


class DualDEConfig(KGTrainConfig):
    """DualDE's switches (docs/methods/dualde.md, 'Switches')."""

    student: ModelSpec
    teacher: ModelSpec
    stage: Literal[1, 2] = Field(1, description="1: teacher frozen; 2: teacher and student adapt to each other")
    score_transform: Literal["sigmoid", "raw"] = Field("sigmoid", description="Huber on σ(score) or on raw scores")
    soft_weight: Literal["learnable", "constant"] = Field(
        "learnable", description="per-triple soft/hard weight σ(a (f + b)) with learnable a, b; or a constant"
    )
    soft_weight_value: float = Field(0.5, ge=0, le=1, description="the constant soft weight (soft_weight: constant)")
    score_weight: float = Field(1.0, ge=0, description="weight of the soft score term")
    cosine_weight: float = Field(1.0, ge=0, description="weight of the cos(e_h, e_t) structure term")
    norm_weight: float = Field(1.0, ge=0, description="weight of the ‖e_h‖/‖e_t‖ structure term")
    huber_delta: float = Field(1.0, gt=0)
    teacher_table: Literal["auto", "on", "off"] = Field(
        "auto",
        description="stage 1: look the frozen teacher's scores up in a table built once (auto: when it fits in "
        "512 MiB; same values up to float rounding, a student-only step's cost)",
    )


def kg_scores(model: KGEModel, batch: TripleBatch) -> KGScores:
    """A model's scores of a batch's positives and negatives, with the head and tail vectors of each triple."""
    corrupted = corrupted_triples(batch.triples, batch.negatives, batch.corrupt_head)
    return KGScores(
        pos=model(batch.triples),
        neg=model.score_negatives(batch.triples, batch.negatives, batch.corrupt_head),
        head_pos=model.entity_vectors(batch.triples[:, 0]),
        tail_pos=model.entity_vectors(batch.triples[:, 2]),
        head_neg=model.entity_vectors(corrupted[..., 0]),
        tail_neg=model.entity_vectors(corrupted[..., 2]),
    )


@register_method("dualde")
class DualDE(KGMethod):
    """Student (and in stage 2 the teacher) trained on w · L_soft + (1 − w) · L_hard per triple; outputs the student."""

    config_class = DualDEConfig

    def __init__(self, cfg: DualDEConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = kge_model(cfg.student, env)
        self.teacher = kge_model(cfg.teacher, env)
        self.table: TeacherTable | None = None
        if cfg.stage == 1:
            self.freeze("teacher")
            train = env.data.train
            fits = table_bytes(len(train), self.teacher.num_entities) <= TABLE_BYTES_LIMIT
            if cfg.teacher_table == "on" or (cfg.teacher_table == "auto" and fits):
                self.table = TeacherTable(self.teacher, train, complex_parts=self.teacher.arch == "complex")
        options = {
            "score_transform": cfg.score_transform,
            "soft_weight": cfg.soft_weight,
            "soft_weight_value": cfg.soft_weight_value,
            "score_weight": cfg.score_weight,
            "cosine_weight": cfg.cosine_weight,
            "norm_weight": cfg.norm_weight,
            "adversarial_temperature": cfg.adversarial_temperature,
            "huber_delta": cfg.huber_delta,
        }
        self.student_loss = DualDELoss(complex_parts=self.student.arch == "complex", **options)
        self.teacher_loss = (
            DualDELoss(complex_parts=self.teacher.arch == "complex", **options) if cfg.stage == 2 else None
        )

    def training_step(self, batch: TripleBatch) -> dict[str, Tensor]:
        student = kg_scores(self.student, batch)
        if self.table is not None:
            teacher = self.table.scores(self.sample_ids, *batch)
            return {f"student_{name}": term for name, term in self.student_loss(student, teacher).items()}
        if self.teacher_loss is None:
            teacher = frozen_forward(kg_scores, self.teacher, batch)
            return {f"student_{name}": term for name, term in self.student_loss(student, teacher).items()}
        teacher = kg_scores(self.teacher, batch)
        terms = {f"student_{name}": term for name, term in self.student_loss(student, teacher).items()}
        return terms | {f"teacher_{name}": term for name, term in self.teacher_loss(teacher, student).items()}

    def output_model(self) -> KGEModel:
        return self.student

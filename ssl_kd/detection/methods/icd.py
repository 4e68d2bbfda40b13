"""``icd``: instance-conditional knowledge distillation from a frozen detector into a student detector.

Kang, Zhang, Zhang, Sun, Jia, "Instance-Conditional Knowledge Distillation for Object Detection", NeurIPS 2021,
arXiv 2110.12724 (docs/methods/icd.md) [verified: code megvii-research/ICD, pytorch_release/]. Per batch::

    queries  = ground-truth boxes (real) ⊕ sampled fake boxes        (ssl_kd.detection.icd.QuerySampler)
    q        = MLP(one-hot(class) ⊕ sine-PE(reference point) ⊕ scale one-hots)
    A_t, V_t = cross-attention of q over the frozen teacher's flattened FPN (keys + projected PE, values without)
    L_aux    = BCE(conf(q'), real?) + mean_real Σ_sides |d̂ − d| / (d + d_opposite)   (the decoder's own task)
    M        = Σ_{i real} softmax_j(A_t[b, h, i, :] / T)   (i over real and fake queries with distill_negative)
    L_mimic  = λ · mean_{b,h} [Σ_j M · mean_c (LN(W_v^s F_s) − LN(V_t))² / Σ_j M]   (LN per distill_norm)
    L        = L_det(student) + L_mimic + L_aux

With ``aux_updates`` k > 1 each batch takes k update phases: the first as above, each further one L_aux alone on
the same batch's teacher features with fresh fake queries, so the decoder makes k updates per student step (the
paper: 1; a labelled reconstruction for short budgets, where the decoder is still learning when the student stops).

With ``decoder_pretrain_steps`` N > 0 the encoder, decoder and heads first train N steps on L_aux alone, before the
student's first step, over the frozen teacher's FPN levels of the un-augmented training images (computed once and
kept in memory), under a fresh ``aux_optim`` and its schedule stretched over the N steps. Not in the paper, whose
decoder learns beside its student for 90k iterations: a labelled reconstruction for budgets so short that the decoder
is still learning its task when the student stops (benchmarks/results/icd.md, "Is the decoder still learning").

During the first ``warmup_steps`` steps the student's FPN enters the mimic loss detached: distillation is off while
the decoder learns its task (and the student-side value projection W_v^s learns to read the student). The decoder,
its encoder and heads and W_v^s train under their own optimiser (``aux_optim``, AdamW lr 1e-4 / wd 1e-4 and gradient
clipping 0.01 in the paper's code); the student under the stage's ``optim``. The output model is the student.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from pydantic import Field, SerializerFunctionWrapHandler, model_serializer
from torch import Tensor, nn
from tqdm import tqdm

from ssl_kd.blocks.teacher_outputs import frozen_forward
from ssl_kd.config.schema import ModelSpec, OptimConfig
from ssl_kd.detection.domain import DetectionBatch, DetectionFacts, decodable_chunks
from ssl_kd.detection.icd import (
    AuxiliaryHeads,
    InstanceDecoder,
    InstanceEncoder,
    InstanceQueries,
    PositionCache,
    QuerySampler,
    flatten_levels,
)
from ssl_kd.detection.methods.base import DetectionMethod, DetectionTrainConfig, detector_model
from ssl_kd.detection.models import Detector
from ssl_kd.engine import distributed
from ssl_kd.engine.device import seed_step
from ssl_kd.engine.method import MethodEnv, OwnOptimizer, register_method
from ssl_kd.engine.optim import build_optimizer, lr_factor
from ssl_kd.errors import ConfigError
from ssl_kd.losses.icd import (
    AttentionMaskedMimicLoss,
    DistillNorm,
    InstanceIdentificationLoss,
    InstanceLocalisationLoss,
)

LOG = logging.getLogger("ssl_kd")
PRETRAIN_CACHE_BYTES = 4 * 2**30
"""Most memory the decoder pre-training's cache of teacher FPN levels may take (the digit canvases: ~45 MB)."""


def auxiliary_optim() -> OptimConfig:
    """The paper's code's optimiser of the auxiliary modules: AdamW, lr 1e-4, weight decay 1e-4, cosine."""
    return OptimConfig(name="adamw", lr=1e-4, weight_decay=1e-4, schedule="cosine")


class ICDConfig(DetectionTrainConfig):
    """ICD's settings (docs/methods/icd.md, 'Switches'); widths scaled down for the CPU (the paper: hidden 256)."""

    student: ModelSpec
    teacher: ModelSpec
    hidden: int = Field(128, ge=8, description="width of the instance queries and the decoder (the paper: 256)")
    heads: int = Field(8, ge=1, description="attention heads of the decoder")
    fake_ratio: float = Field(5.0, ge=0, description="fake queries per real instance")
    max_queries: int = Field(300, ge=1, description="cap on an image's queries unless it has more real instances")
    reference_jitter: float = Field(0.3, ge=0, le=0.5, description="reference point jitter, fraction of the box size")
    mimic_weight: float = Field(8.0, ge=0, description="λ of the attention-masked mimic loss")
    temperature: float = Field(1.0, gt=0, description="T of the attention mask's softmax")
    distill_norm: DistillNorm = Field(
        "ln", description="LayerNorm of the mimicked values: both sides, the teacher's only (tln) or none"
    )
    distill_negative: bool = Field(
        False, description="fake queries' attention enters the mimic mask too (the official code's DISTILL_NEGATIVE)"
    )
    identification_weight: float = Field(1.0, ge=0, description="weight of the real-or-fake BCE")
    localisation_weight: float = Field(1.0, ge=0, description="weight of the side-distance loss on real queries")
    warmup_steps: int = Field(0, ge=0, description="steps with distillation off (student FPN detached); aux trains")
    aux_updates: int = Field(
        1, ge=1, description="updates of the auxiliary task per student step (phases; 1: the paper's joint step)"
    )
    decoder_pretrain_steps: int = Field(
        0,
        ge=0,
        description="steps of the auxiliary task alone on the teacher's FPN of the un-augmented training images, "
        "before the student's first step (0: none, the paper)",
    )
    aux_optim: OptimConfig = Field(default_factory=auxiliary_optim, description="optimiser of the auxiliary modules")
    aux_grad_clip: float | None = Field(0.01, gt=0, description="max gradient norm of the auxiliary modules")

    @model_serializer(mode="wrap")
    def _drop_unset_pretraining(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``decoder_pretrain_steps: 0`` is left out of dumps, so that runs from before it existed keep their
        fingerprints."""
        dumped = handler(self)
        if not dumped.get("decoder_pretrain_steps"):
            dumped.pop("decoder_pretrain_steps", None)
        return dumped


class StepCounter(nn.Module):
    """Finished optimiser steps in a buffer (checkpointed, so a resumed run knows where the warm-up stands) with a
    host mirror (reading it costs no device sync)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.value = 0

    def increment(self) -> None:
        self.value += 1
        self.count.fill_(self.value)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)
        self.value = int(self.count)


@register_method("icd")
class ICD(DetectionMethod):
    """Student detector + ICD's attention-masked FPN mimicry of a frozen teacher, guided by an auxiliary decoder."""

    config_class = ICDConfig

    def __init__(self, cfg: ICDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        facts: DetectionFacts = env.facts
        self.student = detector_model(cfg.student, env)
        self.teacher = detector_model(cfg.teacher, env)
        self.freeze("teacher")
        if self.student.strides() != self.teacher.strides():
            raise ConfigError(
                f"stage {cfg.name!r}: student FPN strides {self.student.strides()} differ from the teacher's "
                f"{self.teacher.strides()}; ICD mimics the teacher's levels position by position"
            )
        self.image_size = facts.image_size
        stats = facts.box_stats.float()
        self.sampler = QuerySampler(stats[:, :2], stats[:, 2:], cfg.fake_ratio, cfg.max_queries, cfg.reference_jitter)
        self.encoder = InstanceEncoder(facts.num_classes, cfg.hidden)
        self.decoder = InstanceDecoder(cfg.hidden, self.teacher.fpn_channels, cfg.heads)
        self.heads = AuxiliaryHeads(cfg.hidden)
        self.student_values = nn.Linear(self.student.fpn_channels, cfg.hidden)
        self.positions = PositionCache(self.teacher.fpn_channels)
        self.steps_done = StepCounter()
        self.update_phases = cfg.aux_updates
        self.find_unused_parameters = cfg.aux_updates > 1  # the auxiliary phases leave the student without gradients
        self._teacher_levels: list[Tensor] | None = None
        self.mimic = AttentionMaskedMimicLoss(cfg.mimic_weight, cfg.temperature, cfg.distill_norm)
        self.identification = InstanceIdentificationLoss()
        self.localisation = InstanceLocalisationLoss()

    @property
    def distilling(self) -> bool:
        """False during the warm-up (the student's FPN is detached from the mimic loss)."""
        return self.steps_done.value >= self.cfg.warmup_steps

    def auxiliary_modules(self) -> list[nn.Module]:
        return [self.encoder, self.decoder, self.heads, self.student_values]

    def own_optimizers(self) -> dict[str, OwnOptimizer]:
        parameters = [p for module in self.auxiliary_modules() for p in module.parameters()]
        return {"auxiliary": OwnOptimizer(parameters, self.cfg.aux_optim, self.cfg.aux_grad_clip)}

    def on_train_start(self) -> None:
        if self.cfg.decoder_pretrain_steps:
            self.pretrain_decoder(self.cfg.decoder_pretrain_steps)

    @torch.no_grad()
    def training_teacher_levels(self) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """The frozen teacher's FPN levels (N, C, H_l, W_l) of every decodable training image, un-augmented, with
        the images' boxes and labels (undecodable images are left out and counted in the log).

        Raises:
            ConfigError: the levels of the whole training set would not fit in PRETRAIN_CACHE_BYTES.
        """
        source = self.env.data.train
        device = self.sampler.size_mean.device
        chunks: list[list[Tensor]] = []
        boxes: list[Tensor] = []
        labels: list[Tensor] = []
        skipped = 0
        for images, ids, undecodable in decodable_chunks(source, self.cfg.data.eval_batch_size):
            skipped += len(undecodable)
            if images is None:
                continue
            for index in ids:
                image_boxes, image_labels = source.targets(index)
                boxes.append(image_boxes)
                labels.append(image_labels)
            levels = self.teacher_levels(images.to(device).float().div_(255))
            if not chunks:
                per_image = sum(level[0].numel() * level.element_size() for level in levels)
                if per_image * len(source) > PRETRAIN_CACHE_BYTES:
                    raise ConfigError(
                        f"stage {self.cfg.name!r}: decoder_pretrain_steps keeps the teacher's FPN of every training "
                        f"image in memory: {len(source)} images x {per_image / 2**20:.1f} MiB exceed "
                        f"{PRETRAIN_CACHE_BYTES / 2**30:.0f} GiB; set decoder_pretrain_steps: 0 or train on fewer or "
                        "smaller images"
                    )
            chunks.append(levels)
        if not chunks:
            raise ConfigError(f"stage {self.cfg.name!r}: no training image could be decoded for decoder_pretrain_steps")
        if skipped:
            LOG.warning("%s: decoder pre-training skipped %d undecodable training images", self.cfg.name, skipped)
        return [torch.cat(level) for level in zip(*chunks, strict=True)], boxes, labels

    def pretrain_decoder(self, steps: int) -> None:
        """L_aux alone for ``steps`` steps on the teacher's cached training levels (see the module docstring)."""
        levels, boxes, labels = self.training_teacher_levels()
        count, batch_size = len(boxes), min(self.cfg.data.batch_size, len(boxes))
        optim = self.cfg.aux_optim
        parameters = [p for module in (self.encoder, self.decoder, self.heads) for p in module.parameters()]
        optimizer = build_optimizer(((f"auxiliary.{i}", p) for i, p in enumerate(parameters)), optim)
        base_lrs = [group["lr"] for group in optimizer.param_groups]
        seed_step(self.cfg.engine.seed, 0, levels[0].device)  # the trainer reseeds before each student step
        order = torch.randperm(count)
        sums = torch.zeros(2, device=levels[0].device)
        tail = max(1, steps // 10)
        bar = tqdm(
            range(steps),
            desc=f"{self.cfg.name}: decoder",
            unit="step",
            disable=None if self.cfg.engine.progress else True,
        )
        for step in bar:
            if len(order) < batch_size:
                order = torch.cat((order, torch.randperm(count)))
            chosen, order = order[:batch_size], order[batch_size:]
            teacher = [level[chosen.to(level.device)] for level in levels]
            picked = chosen.tolist()
            queries = self.sampler([boxes[i] for i in picked], [labels[i] for i in picked], self.image_size)
            decoded = self.decoder(self.encoder(queries), flatten_levels(teacher), self.positions(teacher))
            terms = self.auxiliary_terms(queries, *self.heads(decoded.instances))
            factor = lr_factor(step, steps, max(1, count // batch_size), optim)
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * factor
            optimizer.zero_grad(set_to_none=True)
            sum(terms.values()).backward()
            if self.cfg.aux_grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(parameters, self.cfg.aux_grad_clip)
            optimizer.step()
            if step >= steps - tail:
                sums += torch.stack([terms["identification"].detach(), terms["localisation"].detach()])
        with torch.no_grad():
            distributed.broadcast_tensors_([p.data for p in parameters])  # every rank starts from rank 0's decoder
        identification, localisation = (sums / tail).tolist()
        LOG.info(
            "%s: decoder pre-trained %d steps on the teacher's FPN of %d training images; last %d steps: "
            "identification %.3f, localisation %.3f",
            self.cfg.name,
            steps,
            count,
            tail,
            identification,
            localisation,
        )

    def teacher_levels(self, images: Tensor) -> list[Tensor]:
        return self.teacher.features(self.teacher.normalize(images))

    def step(self, inputs: DetectionBatch, phase: int) -> dict[str, Tensor]:
        if phase == 0:
            return self.training_step(inputs)
        teacher = self._teacher_levels
        if phase == self.update_phases - 1:
            self._teacher_levels = None
        return self.auxiliary_step(inputs, teacher)

    def auxiliary_step(self, batch: DetectionBatch, teacher: list[Tensor]) -> dict[str, Tensor]:
        """L_aux alone on a batch's teacher FPN levels, with freshly sampled fake queries."""
        queries = self.sampler(batch.boxes, batch.labels, self.image_size)
        decoded = self.decoder(self.encoder(queries), flatten_levels(teacher), self.positions(teacher))
        return self.auxiliary_terms(queries, *self.heads(decoded.instances))

    def auxiliary_terms(self, queries: InstanceQueries, confidence: Tensor, distances: Tensor) -> dict[str, Tensor]:
        """The decoder's own task: real-or-fake BCE and the real queries' side-distance loss, weighted."""
        return {
            "identification": self.cfg.identification_weight
            * self.identification(confidence, queries.real, queries.valid),
            "localisation": self.cfg.localisation_weight
            * self.localisation(distances, queries.side_distances(), queries.real),
        }

    def training_step(self, batch: DetectionBatch) -> dict[str, Tensor]:
        images = self.student.normalize(batch.images)
        levels = self.student.features(images)
        terms = self.student.detection_losses(images, levels, batch.boxes, batch.labels)
        teacher = frozen_forward(self.teacher_levels, batch.images)
        if self.update_phases > 1:
            self._teacher_levels = teacher  # read by the auxiliary phases of this batch
        queries = self.sampler(batch.boxes, batch.labels, self.image_size)
        decoded = self.decoder(self.encoder(queries), flatten_levels(teacher), self.positions(teacher))
        confidence, distances = self.heads(decoded.instances)
        student = flatten_levels(levels)
        if not self.distilling:
            student = student.detach()
        values = self.decoder.split_heads(self.student_values(student))
        members = queries.valid if self.cfg.distill_negative else queries.real
        mimic = self.mimic(values, decoded.values, decoded.logits, members)
        return terms | {"mimic": mimic} | self.auxiliary_terms(queries, confidence, distances)

    def on_step_end(self, step: int) -> None:
        self.steps_done.increment()

    def output_model(self) -> Detector:
        return self.student

"""Deep mutual learning: a cohort of peers trained together. docs/methods/dml.md [reconstruction: formula].

Zhang, Xiang, Hospedales, Lu, "Deep Mutual Learning", CVPR 2018, arXiv 1706.00384. Each peer k minimises
CE(z_k, y) + 1/(P-1) * sum_{l != k} tau^2 * KL(softmax(sg z_l / tau) || softmax(z_k / tau)).

Update modes:

* ``joint`` (default): one optimiser step over all peers per batch; every peer's target is the other peers'
  detached prediction from the same (pre-update) forward pass.
* ``alternating`` (the paper's Algorithm 1): P optimiser steps per batch (the engine's update phases). Phase k
  updates peer k only, against the other peers' predictions on the same batch *after* the earlier peers' updates
  of this batch: peer 1 learns from the already updated peer 0, and so on. Targets are computed without gradients
  in the peers' current (training) mode, so a peer's BatchNorm running statistics also see these extra passes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from ssl_kd.blocks.teacher_outputs import frozen_forward
from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.losses import MutualLearningLoss
from ssl_kd.methods.base import Method, MethodEnv, label_loss, register_method
from ssl_kd.models import BackboneModel


class DMLConfig(TrainStageConfig):
    """``method: dml``. Defaults [reconstruction]: two peers, tau = 1, weights 1 (docs/methods/dml.md)."""

    method: Literal["dml"] = "dml"
    peers: list[ModelSpec] = Field(min_length=2, description="the cohort; peer 0 is the stage's output model")
    tau: float = Field(1.0, gt=0, description="softmax temperature of the peer KL")
    ce_weight: float = Field(1.0, ge=0)
    kd_weight: float = Field(1.0, ge=0)
    update: Literal["joint", "alternating"] = Field(
        "joint", description="joint: one step for all peers; alternating: one step per peer, in turn"
    )

    def references(self) -> dict[str, str]:
        return {f"peers[{i}]": peer.from_ for i, peer in enumerate(self.peers) if peer.from_ is not None}


@register_method("dml")
class DML(Method):
    """Peers ``peers[0..P-1]`` trained with :class:`~ssl_kd.losses.MutualLearningLoss`; outputs peer 0."""

    config_class = DMLConfig

    def __init__(self, cfg: DMLConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.peers = nn.ModuleList(env.load_model(spec, env.facts.num_classes) for spec in cfg.peers)
        self.loss = MutualLearningLoss(cfg.tau, cfg.ce_weight, cfg.kd_weight, label_loss(cfg))
        if cfg.update == "alternating":
            self.update_phases = len(self.peers)
            self.find_unused_parameters = True  # each phase moves one peer
        self._targets: list[Tensor] = []

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        return self.loss([peer(images) for peer in self.peers], labels)

    def phase_step(self, phase: int, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        if self.cfg.update == "joint":
            return self.training_step(images, labels)
        if phase == 0:  # peers 1.. have not moved yet in this batch
            self._targets = [images.new_empty(0)] + [frozen_forward(peer, images) for peer in self.peers[1:]]
        else:  # the peer stepped in the previous phase teaches with its new weights
            self._targets[phase - 1] = frozen_forward(self.peers[phase - 1], images)
        terms = self.loss.peer_terms(phase, self.peers[phase](images), self._targets, labels)
        if phase == len(self.peers) - 1:
            self._targets = []
        return terms

    def output_model(self) -> BackboneModel:
        return self.peers[0]

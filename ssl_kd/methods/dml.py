"""Deep mutual learning: a cohort of peers trained together. METHODS.md §16 [reconstruction: formula].

Zhang, Xiang, Hospedales, Lu, "Deep Mutual Learning", CVPR 2018, arXiv 1706.00384. Each peer k minimises
CE(z_k, y) + 1/(P-1) * sum_{l != k} tau^2 * KL(softmax(sg z_l / tau) || softmax(z_k / tau)); the engine sums the
peers' losses and takes one optimiser step over all peers.

Update modes: only ``joint`` is implemented. It is exact here: every peer's target is the other peers' detached
prediction from the same (pre-update) forward pass. The paper's ``alternating`` update (update peer 1, recompute,
then update peer 2 against the updated peer 1) needs one optimiser step per peer per batch, which the shared engine
(one step per batch) does not offer; it is left out rather than approximated.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.losses import MutualLearningLoss
from ssl_kd.methods.base import Method, MethodEnv, register_method
from ssl_kd.models import BackboneModel


class DMLConfig(TrainStageConfig):
    """``method: dml``. Defaults [reconstruction]: two peers, tau = 1, weights 1 (METHODS.md §16)."""

    method: Literal["dml"] = "dml"
    peers: list[ModelSpec] = Field(min_length=2, description="the cohort; peer 0 is the stage's output model")
    tau: float = Field(1.0, gt=0, description="softmax temperature of the peer KL")
    ce_weight: float = Field(1.0, ge=0)
    kd_weight: float = Field(1.0, ge=0)
    update: Literal["joint"] = Field("joint", description="joint: one step for all peers (alternating: not offered)")

    def references(self) -> dict[str, str]:
        return {f"peers[{i}]": peer.from_ for i, peer in enumerate(self.peers) if peer.from_ is not None}


@register_method("dml")
class DML(Method):
    """Peers ``peers[0..P-1]`` trained jointly with :class:`~ssl_kd.losses.MutualLearningLoss`; outputs peer 0."""

    config_class = DMLConfig

    def __init__(self, cfg: DMLConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.peers = nn.ModuleList(env.load_model(spec, env.num_classes) for spec in cfg.peers)
        self.loss = MutualLearningLoss(cfg.tau, cfg.ce_weight, cfg.kd_weight)

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        return self.loss([peer(images) for peer in self.peers], labels)

    def output_model(self) -> BackboneModel:
        return self.peers[0]

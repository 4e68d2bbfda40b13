"""SimCLR: in-batch contrast of two views with NT-Xent. docs/methods/simclr.md [reconstruction of the formula]."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ssl_kd.blocks.memory import ProjectedEncoder
from ssl_kd.config.schema import ModelSpec
from ssl_kd.engine import distributed
from ssl_kd.losses import NTXent
from ssl_kd.methods.base import MethodEnv, register_method
from ssl_kd.methods.self_supervised import SelfSupervisedConfig, SelfSupervisedMethod
from ssl_kd.models import BackboneModel


class SimCLRConfig(SelfSupervisedConfig):
    """``method: simclr``: T = 0.2 and the MoCo v2 head, so the two baselines share their values."""

    method: Literal["simclr"] = "simclr"
    model: ModelSpec


@register_method("simclr")
class SimCLR(SelfSupervisedMethod):
    """z = norm(g(f(x))) for both views; L = NT-Xent(z_1, z_2) with every other view of the batch as a negative.

    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020,
    arXiv 2002.05709. The output model is the backbone (without the head).

    Under torchrun the projections of all ranks are gathered *with* their gradients and every local view is
    contrasted against the global batch; with DDP's gradient averaging this reproduces the single-process gradient
    of the global batch exactly (tests/engine/test_distributed.py).
    """

    config_class = SimCLRConfig

    def __init__(self, cfg: SimCLRConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.encoder = ProjectedEncoder(env.load_model(cfg.model, None), cfg.dim, cfg.hidden_dim)
        self.nt_xent = NTXent(cfg.temperature)

    def training_step(self, images: list[Tensor], labels: None) -> dict[str, Tensor]:
        z_1, z_2 = self.encoder(torch.cat(images)).chunk(2)  # one forward pass over both views
        if not distributed.is_distributed():
            return {"nt_xent": self.nt_xent(z_1, z_2)}
        all_z1 = distributed.all_gather_cat_with_grad(z_1)
        all_z2 = distributed.all_gather_cat_with_grad(z_2)
        return {"nt_xent": self.nt_xent(z_1, z_2, all_z1, all_z2, offset=distributed.rank() * len(z_1))}

    def output_model(self) -> BackboneModel:
        return self.encoder.backbone

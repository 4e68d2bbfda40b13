"""MoCo v2: momentum contrast with a queue of keys. docs/methods/moco_v2.md [verified: code facebookresearch/moco]."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ssl_kd.blocks.memory import KeyQueue, ProjectedEncoder, momentum_copy, momentum_update, shuffled_keys
from ssl_kd.config.schema import ModelSpec
from ssl_kd.losses import InfoNCE
from ssl_kd.methods.base import MethodEnv, register_method
from ssl_kd.methods.self_supervised import SelfSupervisedConfig, SelfSupervisedMethod
from ssl_kd.models import BackboneModel


class MoCoConfig(SelfSupervisedConfig):
    """``method: moco_v2``. Defaults are the official ones (K 65536, m 0.999, T 0.2, dim 128); on small data use
    a queue well below the dataset size and a faster momentum (see pipelines/rekd_digits.yaml)."""

    method: Literal["moco_v2"] = "moco_v2"
    model: ModelSpec
    queue_size: int = Field(65536, ge=1, description="K, number of negative keys")
    momentum: float = Field(0.999, ge=0, lt=1, description="m of the key encoder's EMA")


@register_method("moco_v2")
class MoCoV2(SelfSupervisedMethod):
    """q = norm(g(f(x1))), k = norm(g_m(f_m(x2))) without gradient; L = CE([q.k, q.Queue] / T, 0).

    He et al., CVPR 2020, arXiv 1911.05722; Chen et al., arXiv 2003.04297. As in the official code, the key
    encoder's momentum update happens before the keys are computed, and the keys are enqueued after the loss
    (FIFO pointer). The output model is the query backbone (without the head).
    """

    config_class = MoCoConfig

    def __init__(self, cfg: MoCoConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.query_encoder = ProjectedEncoder(env.load_model(cfg.model, None), cfg.dim, cfg.hidden_dim)
        self.key_encoder = momentum_copy(self.query_encoder)
        self.queue = KeyQueue(cfg.queue_size, {"keys": cfg.dim})
        self.info_nce = InfoNCE(cfg.temperature)

    def training_step(self, images: list[Tensor], labels: None) -> dict[str, Tensor]:
        view_1, view_2 = images
        query = self.query_encoder(view_1)
        with torch.no_grad():
            momentum_update(self.key_encoder, self.query_encoder, self.cfg.momentum)
            key = shuffled_keys(self.key_encoder, view_2, self.cfg.key_bn_splits)
        loss = self.info_nce(query, key, self.queue.bank("keys"))
        self.queue.enqueue(keys=key)
        return {"info_nce": loss}

    def output_model(self) -> BackboneModel:
        return self.query_encoder.backbone

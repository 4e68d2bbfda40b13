"""Clip-order prediction: a clip is cut into chunks that are shuffled; the model predicts the permutation.

Xu et al., "Self-supervised Spatiotemporal Learning via Video Clip Order Prediction", CVPR 2019 (``permutation``: one
class per ordering of ``chunks`` chunks) and Misra et al., "Shuffle and Learn", ECCV 2016 (``verification``: in order or
not); one of the self-supervised teachers of docs/methods/video_graph.md [reconstruction]. In verification mode half of
the clips keep their order (label 0) and the others get a random non-identity permutation (label 1).
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from ssl_kd.methods.base import MethodEnv, register_method
from ssl_kd.methods.video_pretext import PretextConfig, PretextMethod, even_frames, random_labels


class OrderConfig(PretextConfig):
    """``method: pretext_order``: ``chunks!`` classes (permutation) or 2 (verification)."""

    method: Literal["pretext_order"] = "pretext_order"
    chunks: int = Field(3, ge=2, le=4, description="contiguous chunks the clip is cut into")
    mode: Literal["permutation", "verification"] = "permutation"

    @model_validator(mode="after")
    def _chunks_fit(self) -> OrderConfig:
        if self.clip_frames < self.chunks:
            raise ValueError(f"clip_frames ({self.clip_frames}) must be at least chunks ({self.chunks})")
        return self


def permutations(chunks: int) -> Tensor:
    """All orderings of ``chunks`` chunks, identity first, as a ``(chunks!, chunks)`` tensor."""
    return torch.tensor(list(itertools.permutations(range(chunks))))


def chunk_frame_orders(frames: int, orders: Tensor) -> Tensor:
    """Frame index lists ``(len(orders), frames)``: the clip cut into contiguous chunks (``torch.tensor_split``),
    laid out in each order; output chunk ``j`` is input chunk ``order[j]``."""
    pieces = torch.arange(frames).tensor_split(orders.shape[1])
    return torch.stack([torch.cat([pieces[j] for j in order.tolist()]) for order in orders])


def reorder_frames(clips: Tensor, frame_orders: Tensor) -> Tensor:
    """Clip ``i`` with its frames (dim 1) in the order ``frame_orders[i]``."""
    gather = frame_orders.to(clips.device).view(*frame_orders.shape, 1, 1, 1).expand(-1, -1, *clips.shape[2:])
    return clips.gather(1, gather)


@register_method("pretext_order")
class ClipOrder(PretextMethod):
    """Predict how the chunks of a clip were shuffled (or, in verification mode, whether they were)."""

    config_class = OrderConfig

    def __init__(self, cfg: OrderConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.register_buffer("frame_orders", chunk_frame_orders(cfg.clip_frames, permutations(cfg.chunks)), False)

    @classmethod
    def task_classes(cls, cfg: OrderConfig) -> int:
        return len(permutations(cfg.chunks)) if cfg.mode == "permutation" else 2

    def make_task(self, videos: Tensor) -> tuple[Tensor, Tensor]:
        count, total = len(videos), len(self.frame_orders)
        if self.cfg.mode == "permutation":
            labels = random_labels(count, total, videos.device)
            order_index = labels
        else:
            labels = random_labels(count, 2, videos.device)
            shuffled = 1 + (torch.rand(count).to(videos.device) * (total - 1)).long()
            order_index = torch.where(labels == 1, shuffled, torch.zeros_like(shuffled))
        clips = even_frames(videos, self.cfg.clip_frames)
        return reorder_frames(clips, self.frame_orders[order_index]), labels

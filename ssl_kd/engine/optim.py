"""Optimisers and per-step learning-rate schedules."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from ssl_kd.config.schema import OptimConfig


def build_optimizer(named_params: Iterable[tuple[str, nn.Parameter]], cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD, Adam or AdamW; weight decay applies to weight matrices and kernels, not to biases and norm scales.

    SGD's and Adam's weight decay is the L2 term added to the gradient (``wd · θ``, so Adam rescales it with the
    gradient); AdamW's is decoupled (Loshchilov and Hutter, ICLR 2019: ``θ ← θ − lr · wd · θ`` beside the Adam step).
    """
    decay, no_decay = [], []
    for _, param in named_params:
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def lr_factor(step: int, total_steps: int, steps_per_epoch: int, cfg: OptimConfig) -> float:
    """Multiplier of ``cfg.lr`` at optimisation step ``step`` (0-based).

    Linear warmup over ``warmup_epochs``, then ``cosine`` (from 1 down to ``min_lr_ratio`` at the last step),
    ``step`` (times ``gamma`` at each milestone epoch) or ``constant``.
    """
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup - 1)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine
    if cfg.schedule == "step":
        epoch = step / steps_per_epoch
        return cfg.gamma ** sum(epoch >= milestone for milestone in cfg.milestones)
    return 1.0

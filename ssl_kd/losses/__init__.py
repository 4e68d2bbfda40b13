"""Losses: plain ``nn.Module``s over tensors (never models), one per file."""

from ssl_kd.losses.soft_target import SoftTargetKL

__all__ = ["SoftTargetKL"]

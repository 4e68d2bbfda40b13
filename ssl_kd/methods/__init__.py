"""Training methods. Each module registers one method key (``ssl-kd list methods``)."""

from ssl_kd.methods import (  # noqa: F401  (registration)
    adapt,
    dml,
    drkd,
    graph_distill,
    hint,
    hinton_kd,
    internal_kd,
    moco,
    pretext_arrow,
    pretext_order,
    pretext_rotation,
    pretext_speed,
    rekd,
    seed,
    simclr,
    sokd,
    supervised,
)
from ssl_kd.methods.base import Method, MethodEnv, register_method

__all__ = ["Method", "MethodEnv", "register_method"]

"""Training methods. Each module registers one method key (``ssl-kd list methods``)."""

from ssl_kd.methods import hinton_kd, supervised  # noqa: F401  (registration)
from ssl_kd.methods import moco, rekd, seed, simclr  # noqa: F401  (registration)
from ssl_kd.methods.base import Method, MethodEnv, register_method

__all__ = ["Method", "MethodEnv", "register_method"]

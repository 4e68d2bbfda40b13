"""Recommendation training methods: one BPR-MF model alone (``bpr``) and topology distillation (``htd``)."""

from ssl_kd.recsys.methods import bpr, htd  # noqa: F401  (registration)

"""Detection training methods: a detector alone (``detector``); distillation methods add one import line below."""

from ssl_kd.detection.methods import detector, feature_mimic, icd  # noqa: F401  (registration)

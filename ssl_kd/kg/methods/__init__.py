"""Link-prediction training methods: a KGE model alone (``kge``) and DualDE distillation (``dualde``)."""

from ssl_kd.kg.methods import dualde, kge  # noqa: F401  (registration)

"""ssl_kd: knowledge-distillation pretraining of lightweight models.

Pipelines of named stages (``ssl_kd.scheduler``) run registered methods (``ssl_kd.methods``) on registered models
(``ssl_kd.models``) and datasets (``ssl_kd.data``) through one training engine (``ssl_kd.engine``), then evaluate
frozen features (``ssl_kd.evaluation``). See docs/architecture.md.
"""

__version__ = "0.1.0"

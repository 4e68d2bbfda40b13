"""KEnS: ensemble knowledge transfer across aligned KGs (docs/methods/kens.md).

Importing the package registers the ``aligned_link_prediction`` domain, its datasets (``kg_views``, ``dbp5l``),
the ``kens_views`` model, the ``kens`` method and the ``kens_ensemble`` stage kind.
"""

from ssl_kd.kg.kens import data, domain, ensemble_stage, method, model  # noqa: F401  (registration)
from ssl_kd.kg.kens.data import KEnSDataConfig, KEnSFacts, ViewTripleBatch
from ssl_kd.kg.kens.ensemble_stage import KEnSEnsembleConfig, KEnSEnsembleStage
from ssl_kd.kg.kens.method import KEnS, KEnSConfig
from ssl_kd.kg.kens.model import KEnSModel

__all__ = [
    "KEnS",
    "KEnSConfig",
    "KEnSDataConfig",
    "KEnSEnsembleConfig",
    "KEnSEnsembleStage",
    "KEnSFacts",
    "KEnSModel",
    "ViewTripleBatch",
]

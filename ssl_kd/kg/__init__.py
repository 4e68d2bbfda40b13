"""The link-prediction domain: knowledge-graph triples, KGE models, negatives, DualDE and KEnS.

Importing the package registers the domain, its datasets (``nations``, ``kinships``, ``umls``, ``kg_triples``), its
models (``transe``, ``rotate``, ``complex``) and its methods (``kge``, ``dualde``). See docs/methods/kge.md.
"""

import ssl_kd.kg.kens  # noqa: F401  (registration: the KEnS domain, method and stage)
from ssl_kd.kg import domain, methods  # noqa: F401  (registration)
from ssl_kd.kg.models import KGE_MODELS, ComplEx, KGEModel, RotatE, TransE, build_kge
from ssl_kd.kg.negatives import corrupt, corrupted_triples
from ssl_kd.kg.triples import (
    BUNDLED_KGS,
    KGSplits,
    all_true_triples,
    load_bundled_kg,
    load_triples_folder,
    read_triples_file,
)

__all__ = [
    "BUNDLED_KGS",
    "KGE_MODELS",
    "ComplEx",
    "KGEModel",
    "KGSplits",
    "RotatE",
    "TransE",
    "all_true_triples",
    "build_kge",
    "corrupt",
    "corrupted_triples",
    "load_bundled_kg",
    "load_triples_folder",
    "read_triples_file",
]

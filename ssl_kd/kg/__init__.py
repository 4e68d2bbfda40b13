"""Knowledge-graph building blocks: triples, KGE models, negative sampling (docs/methods/kge.md)."""

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
    "KGSplits",
    "all_true_triples",
    "load_bundled_kg",
    "load_triples_folder",
    "read_triples_file",
]

"""The recommendation domain: implicit-feedback interactions, BPR-MF, full-ranking top-k evaluation, HTD.

Importing the package registers the domain, its datasets (``ml100k``, ``movielens_udata``, ``recbole_inter``), its
model (``bpr_mf``) and its methods (``bpr``, ``htd``). See docs/methods/htd.md.
"""

from ssl_kd.recsys import domain, methods  # noqa: F401  (registration)
from ssl_kd.recsys.interactions import RecSplits, SplitOptions, read_inter, read_udata, split_interactions
from ssl_kd.recsys.models import BPRMF

__all__ = ["BPRMF", "RecSplits", "SplitOptions", "read_inter", "read_udata", "split_interactions"]

"""A frozen KGE teacher, tabulated: its score of every training triple against every entity on both sides.

DualDE's stage 1 needs the frozen teacher's scores of each positive and its negatives, and the teacher's structure
features ``(cos(e_h, e_t), ‖e_h‖/‖e_t‖)`` of each of those triples (docs/methods/dualde.md). For the small graphs
that fit (Nations, Kinships, UMLS: a few MB), computing them once makes a step cost what a student-only step
costs: the table holds ``(N_train, E)`` tail and head scores and ``(E, E)`` structure features, and a batch looks
its teacher values up by the positives' sample ids and the negatives' entity ids.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssl_kd.kg.models import KGEModel
from ssl_kd.losses.dualde import KGScores, structure

TABLE_BYTES_LIMIT = 512 * 2**20


def table_bytes(num_train: int, num_entities: int) -> int:
    """Bytes of the score tables (both sides) plus the pairwise structure tables, float32."""
    return 4 * (2 * num_train * num_entities + 2 * num_entities * num_entities)


class TeacherTable(nn.Module):
    """The frozen ``teacher``'s scores and structure features, computed once (``torch.no_grad``).

    Values equal the teacher's own ``forward`` / ``score_negatives`` / ``structure`` up to float rounding (the
    all-entities scoring sums in another order).

    Args:
        teacher: the frozen KGE model.
        train: the training triples (N, 3); a batch's ``sample_ids`` index them.
        complex_parts: structure features over real and imaginary halves (ComplEx).
        batch_size: triples scored at once while building the table.
    """

    def __init__(self, teacher: KGEModel, train: Tensor, complex_parts: bool = False, batch_size: int = 512) -> None:
        super().__init__()
        tails, heads = [], []
        with torch.no_grad():
            for start in range(0, len(train), batch_size):
                chunk = train[start : start + batch_size]
                tails.append(teacher.score_tails(chunk[:, 0], chunk[:, 1]))
                heads.append(teacher.score_heads(chunk[:, 1], chunk[:, 2]))
            vectors = teacher.entity_vectors(torch.arange(teacher.num_entities))
            pairs = [
                structure(vectors[start : start + 64, None], vectors[None], complex_parts)
                for start in range(0, teacher.num_entities, 64)
            ]
        self.register_buffer("tail_scores", torch.cat(tails), persistent=False)
        self.register_buffer("head_scores", torch.cat(heads), persistent=False)
        self.register_buffer("cos", torch.cat([cos for cos, _ in pairs]), persistent=False)
        self.register_buffer("ratio", torch.cat([ratio for _, ratio in pairs]), persistent=False)

    def scores(self, sample_ids: Tensor, triples: Tensor, negatives: Tensor, corrupt_head: Tensor) -> KGScores:
        """The teacher's :class:`KGScores` of a batch (positives ``triples[i] = train[sample_ids[i]]``)."""
        ids = sample_ids.to(self.tail_scores.device)
        heads, tails = triples[:, 0], triples[:, 2]
        side = corrupt_head.unsqueeze(1)
        rows = ids.unsqueeze(1)
        negative_scores = torch.where(side, self.head_scores[rows, negatives], self.tail_scores[rows, negatives])
        negative_heads = torch.where(side, negatives, heads.unsqueeze(1))
        negative_tails = torch.where(side, tails.unsqueeze(1), negatives)
        return KGScores(
            pos=self.tail_scores[ids, tails],
            neg=negative_scores,
            head_pos=None,
            tail_pos=None,
            head_neg=None,
            tail_neg=None,
            pos_structure=(self.cos[heads, tails], self.ratio[heads, tails]),
            neg_structure=(self.cos[negative_heads, negative_tails], self.ratio[negative_heads, negative_tails]),
        )

"""Tiny graph files in the Planetoid raw and CPF ``.npz`` layouts, written by the tests that need them."""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def write_planetoid(root: Path, per_class: int = 60, features: int = 6) -> Path:
    """``root/Cora/raw/ind.cora.*``: two classes of ``per_class`` nodes on a ring (neighbours share a class in
    runs of 5), the last 20 nodes the test rows in shuffled order; node 0 also lists a self-loop and node 1 its
    edge to 2 twice. Returns ``root``."""
    num_nodes = 2 * per_class
    rng = np.random.default_rng(0)
    labels = (np.arange(num_nodes) // 5) % 2
    x = rng.random((num_nodes, features)).astype(np.float32)
    x[np.arange(num_nodes), labels] += 2.0  # a feature that tells the class
    onehot = np.eye(2, dtype=np.float32)[labels]
    test_ids = np.arange(num_nodes - 20, num_nodes)[::-1].copy()
    train = num_nodes - 20
    graph = collections.defaultdict(list)
    for node in range(num_nodes):
        graph[node] += [(node + 1) % num_nodes, (node - 1) % num_nodes]
    graph[0].append(0)
    graph[1].append(2)
    folder = root / "Cora" / "raw"
    folder.mkdir(parents=True)
    parts = {
        "x": sp.csr_matrix(x[:10]),
        "y": onehot[:10],
        "allx": sp.csr_matrix(x[:train]),
        "ally": onehot[:train],
        "tx": sp.csr_matrix(x[test_ids]),
        "ty": onehot[test_ids],
        "graph": graph,
    }
    for name, value in parts.items():
        (folder / f"ind.cora.{name}").write_bytes(pickle.dumps(value, protocol=2))
    (folder / "ind.cora.test.index").write_text("\n".join(map(str, test_ids)) + "\n")
    return root


def write_npz(path: Path) -> Path:
    """A 7-node graph in CPF's ``.npz`` layout: two triangles joined by an edge (0-1-2, 3-4-5, 2-3), a self-loop on
    node 0, the edge 0 -> 1 listed twice, 2 -> 0 and 4 -> 5 without their reverses, and node 6 isolated.
    Classes 0, 0, 0, 1, 1, 1, 1; CSR features."""
    rows = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5]
    cols = [0, 1, 1, 0, 2, 1, 0, 3, 2, 4, 5, 3, 5, 3]
    order = np.lexsort((cols, rows))
    rows, cols = np.asarray(rows)[order], np.asarray(cols)[order]
    indptr = np.searchsorted(rows, np.arange(8))
    attr = sp.csr_matrix(np.eye(7, 3, dtype=np.float32) + 1.0)
    np.savez(
        path,
        adj_data=np.ones(len(cols), dtype=np.float32),
        adj_indices=cols,
        adj_indptr=indptr,
        adj_shape=np.array([7, 7]),
        attr_data=attr.data,
        attr_indices=attr.indices,
        attr_indptr=attr.indptr,
        attr_shape=np.array(attr.shape),
        labels=np.array([0, 0, 0, 1, 1, 1, 1]),
    )
    return path

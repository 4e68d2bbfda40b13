"""Graphs for node classification: the embedded digits kNN graph, Planetoid raw files and CPF's ``.npz`` layout.

Every reader returns a :class:`RawGraph` (features, labels and the edge list as the source gives it);
:func:`prepare_graph` cleans it, keeps its largest connected component and draws CPF's split (docs/methods/cpf.md):

- self-loops are dropped, duplicate edges merged and missing reverse edges added (the graph becomes undirected,
  each edge stored in both directions); nodes without a label are dropped; everything is counted in
  :class:`GraphCleaning` and reported in the stage's log line;
- only the largest connected component is kept (isolated nodes and small components are dropped), as CPF's code
  does before splitting;
- per class, ``labels_per_class`` labelled and ``validation_per_class`` validation nodes are drawn with
  ``split_seed``; every other node of the component is a test node.

Nothing is downloaded, and nothing read from a file executes code: ``.npz`` archives are read with
``allow_pickle=False``, and the Planetoid pickles through an unpickler that builds only plain containers, numpy
arrays and SciPy CSR matrices (the ``graph`` dict only dicts, lists, ints and ``collections.defaultdict``).
"""

from __future__ import annotations

import codecs
import collections
import copyreg
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from numpy._core import multiarray
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from ssl_kd.errors import DataError

PLANETOID_GRAPHS = ("Cora", "Citeseer", "Pubmed")
PLANETOID_PARTS = ("allx", "ally", "tx", "ty", "graph")
"""The raw files read (with ``test.index``); ``x`` and ``y``, the standard split's labelled rows, are not needed."""
NPZ_KEYS = ("adj_data", "adj_indices", "adj_indptr", "adj_shape", "labels")


@dataclass
class RawGraph:
    """A graph as read: ``features`` (N, F) float32, ``labels`` (N,) int64 (-1: none), ``edges`` (2, E) int64 as
    listed by the source (possibly directed, with duplicates and self-loops), and where it came from."""

    features: np.ndarray
    labels: np.ndarray
    edges: np.ndarray
    source: str


@dataclass(frozen=True)
class GraphCleaning:
    """What :func:`prepare_graph` changed: counts of input edges and nodes it dropped, merged or added."""

    self_loops: int
    duplicate_edges: int
    reverse_edges_added: int
    unlabelled_nodes: int
    isolated_nodes: int
    outside_component: int

    def describe(self) -> str:
        parts = {
            "self-loops dropped": self.self_loops,
            "duplicate edges merged": self.duplicate_edges,
            "reverse edges added": self.reverse_edges_added,
            "unlabelled nodes dropped": self.unlabelled_nodes,
            "isolated nodes": self.isolated_nodes,
            "nodes outside the largest component dropped": self.outside_component,
        }
        return ", ".join(f"{label} {count}" for label, count in parts.items())


@dataclass
class NodeGraph:
    """A cleaned graph with CPF's split, as the node-classification domain hands it to methods.

    Attributes:
        features: (N, F) float32 node features (row-normalised unless ``data.row_normalize`` is off).
        labels: (N,) int64 classes.
        edge_index: (2, E) int64, symmetric (both directions of every edge), no self-loops, no duplicates.
        labelled: ids of the labelled nodes (their labels are known to every method).
        validation: ids of the validation nodes (early stopping).
        test: ids of the test nodes (``test_accuracy``).
        source_ids: (N,) the node's index in the source (before the component was cut out).
        classes: the source's label of each class id.
        cleaning: what cleaning changed.
        source: where the graph came from.
    """

    features: Tensor
    labels: Tensor
    edge_index: Tensor
    labelled: Tensor
    validation: Tensor
    test: Tensor
    source_ids: Tensor
    classes: list[int]
    cleaning: GraphCleaning
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_nodes(self) -> int:
        return len(self.labels)

    @property
    def unlabelled(self) -> Tensor:
        """Ids of every node without a known label (validation and test nodes)."""
        mask = torch.ones(self.num_nodes, dtype=torch.bool)
        mask[self.labelled] = False
        return mask.nonzero().flatten()

    def split_names(self) -> list[str]:
        """Per node: ``labelled``, ``validation`` or ``test``."""
        names = np.full(self.num_nodes, "test", dtype=object)
        names[self.labelled.numpy()] = "labelled"
        names[self.validation.numpy()] = "validation"
        return list(names)


# --- the embedded digits graph -----------------------------------------------------------------------------------
def knn_edges(points: Tensor, k: int) -> np.ndarray:
    """Directed edges ``i -> j`` from every point to its ``k`` nearest other points (Euclidean), (2, N * k)."""
    if not 1 <= k < len(points):
        raise DataError(f"data.knn must be between 1 and {len(points) - 1} (the other nodes), got {k}")
    distances = torch.cdist(points, points)
    distances.fill_diagonal_(float("inf"))
    neighbours = distances.topk(k, dim=1, largest=False).indices
    sources = torch.arange(len(points)).repeat_interleave(k)
    return torch.stack([sources, neighbours.flatten()]).numpy()


def digits_graph(knn: int) -> RawGraph:
    """scikit-learn's 1,797 handwritten digits as nodes: the 64 pixels as features, class = digit, and an edge
    from each digit to its ``knn`` nearest digits in pixel space (made symmetric by :func:`prepare_graph`)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    features = digits.data.astype(np.float32)
    edges = knn_edges(torch.from_numpy(features), knn)
    return RawGraph(features, digits.target.astype(np.int64), edges, f"scikit-learn digits, {knn}-NN graph")


# --- Planetoid raw files -----------------------------------------------------------------------------------------
_GRAPH_CLASSES: dict[tuple[str, str], Any] = {
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "int"): int,
    ("collections", "defaultdict"): collections.defaultdict,
}
_ARRAY_CLASSES: dict[tuple[str, str], Any] = {
    ("builtins", "object"): object,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "dict"): dict,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("_codecs", "encode"): codecs.encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,  # pickled by numpy < 2 (the original files)
    ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): multiarray.scalar,
    ("scipy.sparse.csr", "csr_matrix"): sp.csr_matrix,
    ("scipy.sparse._csr", "csr_matrix"): sp.csr_matrix,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only the classes of an allow-list; anything else (e.g. ``os.system``) is refused."""

    def __init__(self, file: Any, allowed: dict[tuple[str, str], Any]) -> None:
        super().__init__(file, encoding="latin1")
        self.allowed = allowed

    PYTHON2_MODULES: ClassVar[dict[str, str]] = {"__builtin__": "builtins", "copy_reg": "copyreg"}
    """Python 2 module names (the original Planetoid files; protocol-2 pickles write them too)."""

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((self.PYTHON2_MODULES.get(module, module), name))
        if found is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only plain data is read)")
        return found


def _unpickle(path: Path, allowed: dict[tuple[str, str], Any]) -> Any:
    try:
        with path.open("rb") as file:
            return RestrictedUnpickler(file, allowed).load()
    except Exception as error:  # any failure of a foreign file is one line naming it
        raise DataError(f"{path}: not a readable Planetoid pickle ({error})") from None


def _dense(matrix: Any, path: Path) -> np.ndarray:
    if sp.issparse(matrix):
        return np.asarray(matrix.todense(), dtype=np.float32)
    if isinstance(matrix, np.ndarray) and matrix.ndim == 2:
        return matrix.astype(np.float32)
    raise DataError(f"{path}: expected a 2-d matrix, found {type(matrix).__name__}")


def planetoid_folder(root: Path, graph: str) -> Path:
    """The folder holding ``ind.<graph>.*``: ``root`` itself, ``root/<graph>`` or ``root/<graph>/raw``."""
    prefix = graph.lower()
    candidates = [root, root / graph, root / graph / "raw", root / prefix, root / prefix / "raw"]
    for folder in candidates:
        if (folder / f"ind.{prefix}.allx").is_file():
            return folder
    raise DataError(
        f"{root}: no Planetoid file ind.{prefix}.allx here or in {graph}/ or {graph}/raw/ (the raw files "
        f"ind.{prefix}.{{{','.join(PLANETOID_PARTS)}}} and ind.{prefix}.test.index; nothing is downloaded)"
    )


def read_test_index(path: Path) -> np.ndarray:
    """The node ids of ``ind.<graph>.test.index``, one integer per line."""
    if not path.is_file():
        raise DataError(f"{path} does not exist (a Planetoid graph needs it)")
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                ids.append(int(line))
            except ValueError:
                raise DataError(f"{path}:{number}: expected a node id, found {line.strip()[:40]!r}") from None
    return np.asarray(ids, dtype=np.int64)


def planetoid_graph(root: Path, graph: str) -> RawGraph:
    """A Planetoid graph (Cora, Citeseer, Pubmed) from its raw files in ``root``, read the way Kipf and Welling's
    loader (and PyTorch Geometric's ``read_planetoid_data``) read them: training + test rows stacked, test rows put
    back at their ids; test ids missing from ``tx`` (Citeseer) become feature-less, label-less nodes."""
    folder = planetoid_folder(root, graph)
    prefix = graph.lower()
    parts: dict[str, Any] = {}
    for part in PLANETOID_PARTS:
        path = folder / f"ind.{prefix}.{part}"
        if not path.is_file():
            raise DataError(
                f"{path} does not exist (a Planetoid graph needs ind.{prefix}.{{{','.join(PLANETOID_PARTS)}}})"
            )
        parts[part] = _unpickle(path, _GRAPH_CLASSES if part == "graph" else _ARRAY_CLASSES)
    test_path = folder / f"ind.{prefix}.test.index"
    test_index = read_test_index(test_path)
    allx, tx = _dense(parts["allx"], folder / f"ind.{prefix}.allx"), _dense(parts["tx"], folder / f"ind.{prefix}.tx")
    ally, ty = _dense(parts["ally"], folder / f"ind.{prefix}.ally"), _dense(parts["ty"], folder / f"ind.{prefix}.ty")
    if len(tx) != len(test_index) or len(ty) != len(test_index):
        raise DataError(f"{test_path}: {len(test_index)} test ids for {len(tx)} rows of tx and {len(ty)} of ty")
    if allx.shape[1] != tx.shape[1] or ally.shape[1] != ty.shape[1] or len(allx) != len(ally):
        raise DataError(f"{folder}: ind.{prefix}.allx/ally/tx/ty do not have matching shapes")
    if len(test_index) and test_index.min() < len(allx):
        raise DataError(f"{test_path}: test ids must follow the {len(allx)} training rows, found {test_index.min()}")
    num_nodes = max(len(allx), int(test_index.max()) + 1 if len(test_index) else 0)
    features = np.zeros((num_nodes, allx.shape[1]), dtype=np.float32)
    onehot = np.zeros((num_nodes, ally.shape[1]), dtype=np.float32)
    features[: len(allx)], onehot[: len(ally)] = allx, ally
    features[test_index], onehot[test_index] = tx, ty
    labels = np.where(onehot.any(axis=1), onehot.argmax(axis=1), -1).astype(np.int64)
    adjacency = parts["graph"]
    if not isinstance(adjacency, dict):
        raise DataError(f"{folder / f'ind.{prefix}.graph'}: expected a dict of neighbour lists")
    try:
        sources = np.asarray([int(node) for node, nbrs in adjacency.items() for _ in nbrs], dtype=np.int64)
        targets = np.asarray([int(nbr) for nbrs in adjacency.values() for nbr in nbrs], dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{folder / f'ind.{prefix}.graph'}: neighbour lists must hold node ids ({error})") from None
    edges = np.stack([sources, targets])
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise DataError(f"{folder / f'ind.{prefix}.graph'}: a node id is outside [0, {num_nodes})")
    return RawGraph(features, labels, edges, f"Planetoid {graph} ({folder})")


# --- CPF's .npz layout -------------------------------------------------------------------------------------------
def npz_path(root: Path, graph: str | None) -> Path:
    """``root`` itself when it is a file, else ``root/<graph>.npz``."""
    if root.is_file():
        return root
    if graph is None:
        raise DataError(f"{root} is a folder: set data.graph to the name of an .npz file in it")
    for name in (f"{graph}.npz", f"{graph.lower()}.npz"):
        if (root / name).is_file():
            return root / name
    present = ", ".join(sorted(p.stem for p in root.glob("*.npz"))) or "none"
    raise DataError(f"{root / f'{graph}.npz'} does not exist; .npz graphs in {root}: {present}")


def _csr(archive: Any, prefix: str, path: Path) -> sp.csr_matrix:
    try:
        return sp.csr_matrix(
            (archive[f"{prefix}_data"], archive[f"{prefix}_indices"], archive[f"{prefix}_indptr"]),
            shape=tuple(int(n) for n in archive[f"{prefix}_shape"]),
        )
    except (ValueError, TypeError) as error:
        raise DataError(f"{path}: {prefix}_* do not form a CSR matrix ({error})") from None


def npz_graph(path: Path) -> RawGraph:
    """A graph in CPF's (and Shchur et al.'s) ``.npz`` layout: a CSR adjacency ``adj_{data,indices,indptr,shape}``,
    features as CSR ``attr_{data,indices,indptr,shape}`` or a dense ``attr_matrix``, and ``labels`` (one per node)."""
    try:
        archive = np.load(path, allow_pickle=False)
        keys = set(archive.files)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz archive ({error})") from None
    missing = [key for key in NPZ_KEYS if key not in keys]
    has_attr = "attr_matrix" in keys or {"attr_data", "attr_indices", "attr_indptr", "attr_shape"} <= keys
    if missing or not has_attr:
        need = missing + ([] if has_attr else ["attr_matrix or attr_{data,indices,indptr,shape}"])
        raise DataError(f"{path}: missing {', '.join(need)} (CPF's .npz layout)")
    try:
        adjacency = _csr(archive, "adj", path).tocoo()
        features = (
            np.asarray(archive["attr_matrix"], dtype=np.float32)
            if "attr_matrix" in keys
            else np.asarray(_csr(archive, "attr", path).todense(), dtype=np.float32)
        )
        labels = np.asarray(archive["labels"])
    except ValueError as error:  # e.g. an object array that would need pickle
        raise DataError(f"{path}: unreadable array ({error})") from None
    num_nodes = adjacency.shape[0]
    if adjacency.shape != (num_nodes, num_nodes) or features.ndim != 2 or len(features) != num_nodes:
        raise DataError(f"{path}: adjacency {adjacency.shape}, features {features.shape}: not one row per node")
    if labels.shape != (num_nodes,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: labels must be {num_nodes} integers (one class per node), found {labels.shape}")
    edges = np.stack([adjacency.row, adjacency.col]).astype(np.int64)
    return RawGraph(features, labels.astype(np.int64), edges, f"{path}")


# --- cleaning, component and split -------------------------------------------------------------------------------
def undirected_edges(edges: np.ndarray, num_nodes: int) -> tuple[np.ndarray, dict[str, int]]:
    """Both directions of every distinct edge without self-loops (sorted), and what was dropped / merged / added."""
    loops = edges[0] == edges[1]
    directed = edges[:, ~loops]
    keys = np.unique(directed[0] * num_nodes + directed[1])
    pairs = np.stack([keys // num_nodes, keys % num_nodes])
    both = np.unique(np.concatenate([keys, pairs[1] * num_nodes + pairs[0]]))
    counts = {
        "self_loops": int(loops.sum()),
        "duplicate_edges": directed.shape[1] - len(keys),
        "reverse_edges_added": len(both) - len(keys),
    }
    return np.stack([both // num_nodes, both % num_nodes]), counts


def draw_split(labels: np.ndarray, labelled: int, validation: int, seed: int, source: str) -> tuple[np.ndarray, ...]:
    """CPF's split: per class ``labelled`` labelled and ``validation`` validation nodes at random; the rest test."""
    rng = np.random.default_rng(seed)
    chosen_labelled, chosen_validation = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < labelled + validation:
            raise DataError(
                f"{source}: class {label} has {len(members)} nodes in the largest component, fewer than "
                f"data.labels_per_class + data.validation_per_class = {labelled + validation}"
            )
        drawn = rng.permutation(members)
        chosen_labelled.append(drawn[:labelled])
        chosen_validation.append(drawn[labelled : labelled + validation])
    train, valid = np.sort(np.concatenate(chosen_labelled)), np.sort(np.concatenate(chosen_validation))
    rest = np.ones(len(labels), dtype=bool)
    rest[train] = rest[valid] = False
    return train, valid, np.flatnonzero(rest)


def prepare_graph(
    raw: RawGraph, labels_per_class: int, validation_per_class: int, split_seed: int, row_normalize: bool
) -> NodeGraph:
    """Clean ``raw`` (see the module docstring), keep its largest connected component and draw the split."""
    num_nodes = len(raw.labels)
    has_label = raw.labels >= 0
    edges, counts = undirected_edges(raw.edges, num_nodes)
    labelled_edges = edges[:, has_label[edges[0]] & has_label[edges[1]]]
    degree = np.bincount(labelled_edges[0], minlength=num_nodes)
    adjacency = sp.coo_matrix((np.ones(labelled_edges.shape[1]), labelled_edges), shape=(num_nodes, num_nodes))
    _, component = connected_components(adjacency, directed=False)
    component = np.where(has_label, component, -1)
    sizes = np.bincount(component[has_label]) if has_label.any() else np.zeros(1, dtype=np.int64)
    keep = component == int(sizes.argmax())
    if keep.sum() < 2:
        raise DataError(f"{raw.source}: no connected component with two labelled nodes")
    cleaning = GraphCleaning(
        unlabelled_nodes=int((~has_label).sum()),
        isolated_nodes=int(((degree == 0) & has_label).sum()),
        outside_component=int((has_label & ~keep).sum()),
        **counts,
    )
    kept = np.flatnonzero(keep)
    new_id = np.full(num_nodes, -1, dtype=np.int64)
    new_id[kept] = np.arange(len(kept))
    inside = keep[edges[0]] & keep[edges[1]]
    edge_index = new_id[edges[:, inside]]
    classes, labels = np.unique(raw.labels[kept], return_inverse=True)
    features = raw.features[kept]
    if row_normalize:
        sums = features.sum(axis=1, keepdims=True)
        features = np.divide(features, sums, out=np.zeros_like(features), where=sums != 0)
    train, valid, test = draw_split(labels, labels_per_class, validation_per_class, split_seed, raw.source)
    return NodeGraph(
        features=torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
        labels=torch.from_numpy(labels.astype(np.int64)),
        edge_index=torch.from_numpy(np.ascontiguousarray(edge_index)),
        labelled=torch.from_numpy(train),
        validation=torch.from_numpy(valid),
        test=torch.from_numpy(test),
        source_ids=torch.from_numpy(kept),
        classes=[int(c) for c in classes],
        cleaning=cleaning,
        source=raw.source,
    )

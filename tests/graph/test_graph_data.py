"""Graph readers and cleaning: the kNN graph, CPF's split, Planetoid raw files and .npz archives on tiny fixtures,
and the one-line errors of bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import write_npz, write_planetoid

from ssl_kd.errors import DataError
from ssl_kd.graph.data import (
    RawGraph,
    digits_graph,
    knn_edges,
    npz_graph,
    npz_path,
    planetoid_graph,
    prepare_graph,
    read_test_index,
)


def test_knn_edges_point_to_the_k_nearest_other_points() -> None:
    points = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    edges = knn_edges(points, 1)
    assert edges.tolist() == [[0, 1, 2, 3], [1, 0, 1, 2]]
    with pytest.raises(DataError, match=r"data\.knn"):
        knn_edges(points, 4)


def test_the_digits_graph_is_symmetric_without_self_loops_or_duplicates() -> None:
    graph = prepare_graph(digits_graph(5), 20, 30, 0, True)
    src, dst = graph.edge_index
    keys = set(zip(src.tolist(), dst.tolist(), strict=True))
    assert len(keys) == graph.edge_index.shape[1]  # no duplicates
    assert all((b, a) in keys for a, b in keys)  # symmetric
    assert not (src == dst).any()
    assert graph.cleaning.reverse_edges_added > 0 and graph.cleaning.self_loops == 0
    assert graph.num_nodes + graph.cleaning.outside_component == 1797
    assert torch.allclose(graph.features.sum(dim=1), torch.ones(graph.num_nodes))  # row-normalised


def test_cpf_split_per_class_and_seeded() -> None:
    graph = prepare_graph(digits_graph(10), 20, 30, 3, False)
    assert (torch.bincount(graph.labels[graph.labelled]) == 20).all()
    assert (torch.bincount(graph.labels[graph.validation]) == 30).all()
    parts = torch.cat([graph.labelled, graph.validation, graph.test])
    assert torch.equal(parts.sort().values, torch.arange(graph.num_nodes))  # a partition
    again = prepare_graph(digits_graph(10), 20, 30, 3, False)
    other = prepare_graph(digits_graph(10), 20, 30, 4, False)
    assert torch.equal(again.labelled, graph.labelled) and not torch.equal(other.labelled, graph.labelled)


def test_cleaning_counts_loops_duplicates_reverses_and_keeps_the_largest_component(tmp_path: Path) -> None:
    graph = prepare_graph(npz_graph(write_npz(tmp_path / "g.npz")), 1, 1, 0, False)
    cleaning = graph.cleaning
    assert (cleaning.self_loops, cleaning.duplicate_edges, cleaning.reverse_edges_added) == (1, 1, 2)
    assert (cleaning.isolated_nodes, cleaning.outside_component, cleaning.unlabelled_nodes) == (1, 1, 0)
    assert graph.num_nodes == 6 and graph.edge_index.shape[1] == 14 and graph.source_ids.tolist() == [0, 1, 2, 3, 4, 5]
    assert graph.features.shape == (6, 3) and graph.classes == [0, 1]
    assert "self-loops dropped 1" in cleaning.describe()


def test_a_class_too_small_for_the_split_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="class 0 has 3 nodes"):
        prepare_graph(npz_graph(write_npz(tmp_path / "g.npz")), 2, 2, 0, False)


def test_planetoid_raw_files_put_test_rows_back_at_their_ids(tmp_path: Path) -> None:
    raw = planetoid_graph(write_planetoid(tmp_path), "Cora")
    assert raw.features.shape == (120, 6) and raw.edges.shape[1] == 2 * 120 + 2
    expected_labels = (np.arange(120) // 5) % 2
    assert (raw.labels == expected_labels).all()  # tx / ty rows landed at their test ids (given in reverse)
    assert (raw.features.argmax(axis=1) == expected_labels).all()
    graph = prepare_graph(raw, 20, 30, 0, True)
    assert graph.cleaning.self_loops == 1 and graph.cleaning.duplicate_edges == 1 and graph.num_nodes == 120


def test_planetoid_folder_missing_files_and_bad_pickles_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no Planetoid file ind\.cora\.allx"):
        planetoid_graph(tmp_path, "Cora")
    root = write_planetoid(tmp_path / "p")
    folder = root / "Cora" / "raw"
    (folder / "ind.cora.test.index").write_text("100\nnot-a-number\n")
    with pytest.raises(DataError, match=r"ind.cora.test.index:2: expected a node id"):
        read_test_index(folder / "ind.cora.test.index")
    (folder / "ind.cora.ty").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"ind.cora.ty: not a readable Planetoid pickle"):
        planetoid_graph(root, "Cora")
    (folder / "ind.cora.ty").unlink()
    with pytest.raises(DataError, match=r"ind.cora.ty does not exist"):
        planetoid_graph(root, "Cora")


class _Exploit:
    def __reduce__(self) -> tuple:
        return (print, ("pickle code ran",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_planetoid(tmp_path)
    (root / "Cora" / "raw" / "ind.cora.graph").write_bytes(pickle.dumps({0: [_Exploit()]}))
    with pytest.raises(DataError, match=r"refusing to load builtins\.print"):
        planetoid_graph(root, "Cora")
    assert "pickle code ran" not in capsys.readouterr().out


def test_npz_paths_and_bad_archives_are_one_line(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "photo.npz")
    assert npz_path(tmp_path, "photo") == path and npz_path(path, None) == path
    with pytest.raises(DataError, match="photo"):
        npz_path(tmp_path, "computers")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"broken\.npz: not a readable \.npz archive"):
        npz_graph(tmp_path / "broken.npz")
    np.savez(tmp_path / "partial.npz", adj_data=np.ones(1))
    with pytest.raises(DataError, match=r"partial\.npz: missing adj_indices"):
        npz_graph(tmp_path / "partial.npz")


def test_nodes_without_a_label_are_dropped_and_counted() -> None:
    labels = np.array([0, 0, 1, 1, -1])
    edges = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    raw = RawGraph(np.eye(5, dtype=np.float32), labels, edges, "test")
    graph = prepare_graph(raw, 1, 1, 0, False)
    assert graph.cleaning.unlabelled_nodes == 1 and graph.num_nodes == 4 and len(graph.test) == 0

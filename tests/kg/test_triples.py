"""KG triples: reading, id mapping, dropped unseen triples, bundled KGs equal pykeen's."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from ssl_kd.errors import DataError
from ssl_kd.kg import BUNDLED_KGS, all_true_triples, load_bundled_kg, load_triples_folder, read_triples_file


def write_kg(root: Path, train: str, valid: str = "", test: str = "", valid_name: str = "valid.txt") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.txt").write_text(train)
    (root / valid_name).write_text(valid)
    (root / "test.txt").write_text(test)
    return root


TRAIN = "b\tlikes\ta\na\tlikes\tc\n\nc\thates\tb\n"


def test_read_skips_blank_lines_and_strips_fields(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("x\tr\ty\r\n\n   \n y \tr\tz\n")
    assert read_triples_file(path) == [("x", "r", "y"), ("y", "r", "z")]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("a\tr\tb\n\nb\tr\n")
    with pytest.raises(
        DataError, match=r"train\.txt:3: expected 3 tab-separated fields \(head, relation, tail\), got 2"
    ):
        read_triples_file(path)


def test_empty_field_names_its_role(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("a\tr\tb\na\t \tb\n")
    with pytest.raises(DataError, match=r"train\.txt:2: empty relation field"):
        read_triples_file(path)


def test_missing_folder_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"KG folder not found: .*nowhere"):
        load_triples_folder(tmp_path / "nowhere")
    root = tmp_path / "kg"
    root.mkdir()
    (root / "train.txt").write_text(TRAIN)
    (root / "test.txt").write_text("")
    with pytest.raises(DataError, match=r"has no valid file \(looked for valid.txt, valid.tsv, dev.txt, dev.tsv\)"):
        load_triples_folder(root)


def test_ids_from_sorted_training_labels(tmp_path: Path) -> None:
    kg = load_triples_folder(write_kg(tmp_path / "toy", TRAIN, "a\tlikes\tb\n", "c\thates\ta\n"))
    assert kg.name == "toy"
    assert kg.entities == ["a", "b", "c"]
    assert kg.relations == ["hates", "likes"]
    assert kg.num_entities == 3 and kg.num_relations == 2
    assert kg.train.dtype == torch.int64
    assert kg.train.tolist() == [[1, 1, 0], [0, 1, 2], [2, 0, 1]]
    assert kg.valid.tolist() == [[0, 1, 1]]
    assert kg.test.tolist() == [[2, 0, 0]]
    assert kg.dropped == {"train": 0, "valid": 0, "test": 0}


def test_unseen_valid_and_test_triples_are_dropped_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    test = "a\tlikes\tb\nz\tlikes\ta\na\tloves\tb\nc\thates\ta\n"  # z: unseen entity, loves: unseen relation
    root = write_kg(tmp_path / "toy", TRAIN, "q\tlikes\ta\n", test, valid_name="dev.txt")
    with caplog.at_level(logging.WARNING, logger="ssl_kd"):
        kg = load_triples_folder(root, name="toy")
    assert kg.dropped == {"train": 0, "valid": 1, "test": 2}
    assert kg.valid.shape == (0, 3)
    assert kg.test.tolist() == [[0, 1, 1], [2, 0, 0]]
    messages = [record.getMessage() for record in caplog.records]
    assert any("left out 2 of 4 test triples" in message for message in messages)
    assert any("left out 1 of 1 valid triples" in message for message in messages)


def test_all_true_triples_unions_without_duplicates(tmp_path: Path) -> None:
    kg = load_triples_folder(write_kg(tmp_path / "toy", TRAIN, "b\tlikes\ta\n", "c\thates\ta\n"))
    assert all_true_triples(kg).tolist() == [[0, 1, 2], [1, 1, 0], [2, 0, 0], [2, 0, 1]]


def test_unknown_bundled_name_lists_known() -> None:
    with pytest.raises(
        DataError, match=r"unknown bundled KG 'umsl'.*did you mean 'umls'.*known: nations, kinships, umls"
    ):
        load_bundled_kg("umsl")


EXPECTED = {
    "nations": (14, 55, 1592, 199, 201),
    "kinships": (104, 25, 8544, 1068, 1074),
    "umls": (135, 46, 5216, 652, 661),
}


@pytest.mark.parametrize("name", BUNDLED_KGS)
def test_bundled_counts(name: str) -> None:
    kg = load_bundled_kg(name)
    counts = (kg.num_entities, kg.num_relations, len(kg.train), len(kg.valid), len(kg.test))
    assert counts == EXPECTED[name]


@pytest.mark.parametrize("name", BUNDLED_KGS)
def test_bundled_equals_pykeen(name: str) -> None:
    datasets = pytest.importorskip("pykeen.datasets")
    dataset = {"nations": datasets.Nations, "kinships": datasets.Kinships, "umls": datasets.UMLS}[name]()
    kg = load_bundled_kg(name)
    assert kg.num_entities == dataset.num_entities and kg.num_relations == dataset.num_relations
    training = dataset.training
    assert kg.entities == sorted(training.entity_to_id, key=training.entity_to_id.__getitem__)
    assert kg.relations == sorted(training.relation_to_id, key=training.relation_to_id.__getitem__)
    for ours, theirs in ((kg.train, training), (kg.valid, dataset.validation), (kg.test, dataset.testing)):
        assert torch.equal(ours.unique(dim=0), theirs.mapped_triples.unique(dim=0))


def test_bundled_without_pykeen_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pykeen package, which is not installed \(pip install pykeen\)"):
        load_bundled_kg("nations")


def test_tsv_names_and_split_accessor(tmp_path: Path) -> None:
    root = tmp_path / "tsv"
    root.mkdir()
    (root / "train.tsv").write_text(TRAIN)
    (root / "valid.tsv").write_text("a\tlikes\tb\n")
    (root / "test.tsv").write_text("")
    kg = load_triples_folder(root)
    assert kg.split("valid").tolist() == [[0, 1, 1]] and kg.split("test").shape == (0, 3)
    with pytest.raises(DataError, match="unknown KG split 'dev'"):
        kg.split("dev")

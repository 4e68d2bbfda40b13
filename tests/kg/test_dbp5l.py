"""DBP-5L reader on a tiny fake tree in the reference repository's layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_kd.errors import DataError
from ssl_kd.kg.dbp5l import read_dbp5l


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())  # the reference files have CRLF endings


def _tree(root: Path) -> Path:
    _write(root / "relations.txt", ["http://dbpedia.org/ontology/a", "http://dbpedia.org/ontology/b"])
    _write(root / "entity" / "en.tsv", ["http://dbpedia.org/resource/X", "X2", "X3", "X4"])
    _write(root / "entity" / "el.tsv", ["Y1", "Y2", "Y3"])
    _write(root / "kg" / "en-train.tsv", ["0\t0\t1", "1\t1\t2", "2\t0\t3"])
    _write(root / "kg" / "en-val.tsv", ["3\t1\t0"])
    _write(root / "kg" / "en-test.tsv", ["0\t1\t3"])
    _write(root / "kg" / "el-train.tsv", ["0\t0\t1", "1\t1\t2"])
    _write(root / "kg" / "el-val.tsv", ["2\t0\t0"])
    _write(root / "kg" / "el-test.tsv", [])
    _write(root / "seed_alignlinks" / "el-en.tsv", ["0.0\t1.0", "2.0\t3.0", "1.0\t0.0"])  # el id, en id
    return root


def test_reads_views_and_links(tmp_path: Path) -> None:
    views = read_dbp5l(_tree(tmp_path), languages=["en", "el"])
    en, el = views.views
    assert (en.name, en.num_entities, en.num_relations, el.num_entities) == ("en", 4, 2, 3)
    assert en.train.tolist() == [[0, 0, 1], [1, 1, 2], [2, 0, 3]]
    assert en.valid.tolist() == [[3, 1, 0]] and el.test.shape == (0, 3)
    assert en.entity_names[0] == "http://dbpedia.org/resource/X" and en.entity_ids_in_source is None
    # the file is el-en, the views are (en, el): columns swapped to (en id, el id)
    assert views.links[(0, 1)].seed.tolist() == [[1, 0], [3, 2], [0, 1]]
    assert views.links[(0, 1)].held_out.shape == (0, 2)


def test_default_languages_sorted_and_held_out_split(tmp_path: Path) -> None:
    views = read_dbp5l(_tree(tmp_path), held_out_fraction=1 / 3, seed=1)
    assert [v.name for v in views.views] == ["el", "en"]
    links = views.links[(0, 1)]
    assert (len(links.seed), len(links.held_out)) == (2, 1)
    assert sorted(links.all.tolist()) == [[0, 1], [1, 0], [2, 3]]
    again = read_dbp5l(tmp_path, held_out_fraction=1 / 3, seed=1).links[(0, 1)]
    assert torch.equal(again.held_out, links.held_out)


def test_missing_files_are_one_error(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "kg" / "el-val.tsv").unlink()
    (root / "entity" / "el.tsv").unlink()
    with pytest.raises(DataError, match=r"missing.*el-val\.tsv.*el\.tsv"):
        read_dbp5l(root)
    with pytest.raises(DataError, match="does not exist"):
        read_dbp5l(tmp_path / "nope")


@pytest.mark.parametrize(
    ("line", "message"),
    [("0\t0", "expected 3"), ("0\tx\t1", "'x' is not an id"), ("0\t0\t9", "out of range"), ("0\t0.5\t1", "integer")],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    root = _tree(tmp_path)
    _write(root / "kg" / "en-train.tsv", ["0\t0\t1", line])
    with pytest.raises(DataError, match=rf"en-train\.tsv:2: .*{message}"):
        read_dbp5l(root)


def test_alignment_id_out_of_range(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _write(root / "seed_alignlinks" / "el-en.tsv", ["0.0\t1.0", "5.0\t1.0"])
    with pytest.raises(DataError, match=r"el-en\.tsv:2: id 5 out of range"):
        read_dbp5l(root)

"""Interaction files (GroupLens u.data / ratings.dat, RecBole .inter, the bundled MovieLens-100K), implicit
feedback, and the seeded per-user split: determinism, disjointness, small users, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_kd.errors import DataError
from ssl_kd.recsys.interactions import (
    SplitOptions,
    bundled_ml100k,
    inter_file,
    read_inter,
    read_udata,
    split_interactions,
    udata_file,
)


def write_udata(path: Path, users: int = 6, per_user: int = 10, separator: str = "\t") -> Path:
    lines = [
        separator.join([str(u + 1), str(100 + (u * 3 + k) % 40), str(1 + k % 5), str(880000000 + k)])
        for u in range(users)
        for k in range(per_user)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def pairs(rows: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(row) for row in rows.tolist()}


def test_udata_split_is_per_user_disjoint_and_complete(tmp_path: Path) -> None:
    raw = read_udata(write_udata(tmp_path / "u.data"))
    splits = split_interactions("tiny", raw, SplitOptions())
    assert (splits.num_users, splits.train_only_users, splits.duplicates) == (6, 0, 0)
    train, valid, test = pairs(splits.train), pairs(splits.valid), pairs(splits.test)
    assert not (train & valid or train & test or valid & test)
    assert len(train | valid | test) == 60
    for split, per_user in ((splits.train, 8), (splits.valid, 1), (splits.test, 1)):  # 80/10/10 of 10
        assert torch.bincount(split[:, 0], minlength=6).tolist() == [per_user] * 6
    assert splits.users == ["1", "2", "3", "4", "5", "6"] and splits.items[:2] == ["100", "101"]


def test_split_is_deterministic_in_its_seed(tmp_path: Path) -> None:
    raw = read_udata(write_udata(tmp_path / "u.data"))
    first, again = (split_interactions("tiny", raw, SplitOptions(split_seed=3)) for _ in range(2))
    other = split_interactions("tiny", raw, SplitOptions(split_seed=4))
    assert torch.equal(first.test, again.test) and torch.equal(first.train, again.train)
    assert pairs(first.test) != pairs(other.test)


def test_users_with_too_few_interactions_stay_in_training_and_are_counted(tmp_path: Path) -> None:
    path = write_udata(tmp_path / "u.data")
    path.write_text(path.read_text() + "99\t100\t5\t1\n99\t101\t4\t2\n")  # a user with 2 interactions
    splits = split_interactions("tiny", read_udata(path), SplitOptions(min_user_interactions=3))
    user = splits.users.index("99")
    assert splits.train_only_users == 1
    assert (splits.train[:, 0] == user).sum() == 2 and not (splits.test[:, 0] == user).any()


def test_min_rating_and_repeated_pairs(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text("1\t10\t5\t0\n1\t10\t4\t1\n1\t11\t2\t2\n1\t12\t4\t3\n1\t13\t5\t4\n2\t10\t1\t5\n")
    splits = split_interactions("tiny", read_udata(path), SplitOptions(min_rating=4))
    assert (splits.below_min_rating, splits.duplicates) == (2, 1)
    assert splits.users == ["1"] and splits.items == ["10", "12", "13"]


def test_ratings_dat_double_colon_layout(tmp_path: Path) -> None:
    raw = read_udata(write_udata(tmp_path / "ratings.dat", separator="::"))
    assert len(raw.users) == 60 and raw.items[0] == "100"
    assert udata_file(tmp_path) == tmp_path / "ratings.dat"


def test_inter_columns_are_found_by_header_name(tmp_path: Path) -> None:
    path = tmp_path / "tiny.inter"
    path.write_text("timestamp:float\titem_id:token\tuser_id:token\n5\ta\tu1\n6\tb\tu1\n7\ta\tu2\n")
    raw = read_inter(path)
    assert raw.users == ["u1", "u1", "u2"] and raw.items == ["a", "b", "a"] and torch.isnan(raw.ratings).all()
    assert inter_file(tmp_path) == path
    with pytest.raises(DataError, match="no rating column"):
        split_interactions("tiny", raw, SplitOptions(min_rating=3))


def test_bundled_movielens_100k_is_found_without_importing_recbole() -> None:
    raw = read_inter(bundled_ml100k())
    assert len(raw.users) == 100_000 and len(set(raw.users)) == 943 and len(set(raw.items)) == 1682


@pytest.mark.parametrize(
    ("name", "text", "reader", "where", "what"),
    [
        ("u.data", "1\t2\t3\t4\n1\t2\t3\n", read_udata, ":2:", "expected 4"),
        ("u.data", "1\t2\t3\t4\n1\t2\tgood\t4\n", read_udata, ":2:", "not a number"),
        ("u.data", "1\t\t3\t4\n", read_udata, ":1:", "empty item"),
        ("x.inter", "user_id:token\titem_id:token\nu\ti\nu\n", read_inter, ":3:", "expected 2"),
        ("x.inter", "user:token\titem_id:token\nu\ti\n", read_inter, ":1:", "no user_id"),
    ],
)
def test_malformed_lines_name_file_and_line(
    tmp_path: Path, name: str, text: str, reader, where: str, what: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError) as error:
        reader(path)
    message = str(error.value)
    assert f"{path}{where}" in message and what in message and "\n" not in message


def test_missing_paths_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_udata(tmp_path / "nowhere.data")
    with pytest.raises(DataError, match=r"looked for u\.data, ratings\.dat"):
        udata_file(tmp_path)
    with pytest.raises(DataError, match=r"exactly one \.inter"):
        inter_file(tmp_path)

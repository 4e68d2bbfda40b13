"""Video dataset layouts: UCF101 and HMDB51 official split files, class folders, Kinetics-style CSV, detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssl_kd.data.video.layouts import detect_format, parse_layout
from ssl_kd.errors import DataError


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


@pytest.fixture
def ucf101(tmp_path: Path) -> Path:
    """UCF-101/<class>/*.avi with the split files in a sibling ucfTrainTestlist/, as the official archives unpack."""
    root = tmp_path / "UCF-101"
    for name in ("ApplyEyeMakeup", "Archery"):
        for group in (1, 8):
            touch(root / name / f"v_{name}_g{group:02d}_c01.avi")
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 2\n"
    )
    (lists / "testlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nArchery/v_Archery_g01_c01.avi\n"
    )
    (lists / "trainlist02.txt").write_text("Archery/v_Archery_g01_c01.avi 2\n")
    (lists / "testlist02.txt").write_text("Archery/v_Archery_g08_c01.avi\n")
    return root


def test_ucf101_split_files(ucf101: Path) -> None:
    index = parse_layout(ucf101, "ucf101", split=1)
    assert index.classes == ["ApplyEyeMakeup", "Archery"]
    assert index.train == [
        (ucf101 / "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0),
        (ucf101 / "Archery/v_Archery_g08_c01.avi", 1),
    ]
    assert [label for _, label in index.test] == [0, 1]  # test lists carry no label: taken from the folder
    split2 = parse_layout(ucf101, "ucf101", split=2)
    assert split2.train == [(ucf101 / "Archery/v_Archery_g01_c01.avi", 1)]
    with pytest.raises(DataError, match="trainlist03"):
        parse_layout(ucf101, "ucf101", split=3)


def test_ucf101_unknown_class_is_an_error(ucf101: Path) -> None:
    (ucf101.parent / "ucfTrainTestlist" / "testlist01.txt").write_text("Bowling/v_Bowling_g01_c01.avi\n")
    with pytest.raises(DataError, match="Bowling"):
        parse_layout(ucf101, "ucf101", split=1)


def test_hmdb51_split_files(tmp_path: Path) -> None:
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text(
        "a_brush_hair_u_nm_np1_ba_goo_0.avi 1 \nb_brush.avi 2 \nc.avi 0 \n"
    )
    (splits / "cartwheel_test_split1.txt").write_text("d_cartwheel.avi 2 \ne_cartwheel.avi 1 \n")
    (splits / "cartwheel_test_split2.txt").write_text("d_cartwheel.avi 1 \n")
    index = parse_layout(tmp_path, "hmdb51", split=1)
    assert index.classes == ["brush_hair", "cartwheel"]
    assert index.train == [
        (tmp_path / "brush_hair/a_brush_hair_u_nm_np1_ba_goo_0.avi", 0),
        (tmp_path / "cartwheel/e_cartwheel.avi", 1),
    ]
    assert index.test == [(tmp_path / "brush_hair/b_brush.avi", 0), (tmp_path / "cartwheel/d_cartwheel.avi", 1)]
    assert detect_format(tmp_path) == "hmdb51"
    with pytest.raises(DataError, match="split3"):
        parse_layout(tmp_path, "hmdb51", split=3)


def test_class_folders(tmp_path: Path) -> None:
    for split, count in (("train", 2), ("val", 1)):
        for name in ("jump", "run"):
            for i in range(count):
                touch(tmp_path / split / name / f"{i}.mp4")
    index = parse_layout(tmp_path, "auto", split=1)
    assert index.classes == ["jump", "run"]
    assert sorted(label for _, label in index.train) == [0, 0, 1, 1]
    assert sorted(label for _, label in index.test) == [0, 1]


def test_kinetics_csv(tmp_path: Path) -> None:
    header = "label,youtube_id,time_start,time_end,split\n"
    (tmp_path / "train.csv").write_text(header + "abseiling,abc,5,15,train\nzumba,xyz,0,10,train\n")
    (tmp_path / "validate.csv").write_text(header + "zumba,qqq,30,40,validate\n")
    index = parse_layout(tmp_path, "auto", split=1)
    assert index.classes == ["abseiling", "zumba"]
    assert index.train[0] == (tmp_path / "train/abseiling/abc_000005_000015.mp4", 0)
    assert index.test == [(tmp_path / "validate/zumba/qqq_000030_000040.mp4", 1)]


def test_path_label_csv(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("videos/a.mp4 0\nvideos/b.mp4 2\n")
    (tmp_path / "test.csv").write_text("videos/c.mp4 1\n")
    index = parse_layout(tmp_path, "csv", split=1)
    assert index.train == [(tmp_path / "videos/a.mp4", 0), (tmp_path / "videos/b.mp4", 2)]
    assert index.classes == ["0", "1", "2"]


def test_unknown_layout_names_the_formats(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.format"):
        parse_layout(tmp_path, "auto", split=1)

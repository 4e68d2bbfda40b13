"""Detection data: the digit canvases' boxes are the pasted digits' ink, the COCO reader cleans and counts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_kd.detection.data import (
    CanvasImages,
    DetectionSplits,
    DigitCanvasSettings,
    coco_splits,
    digit_glyphs,
    generate_digit_canvases,
    load_digit_canvases,
    read_coco,
    render_canvas,
)
from ssl_kd.detection.domain import AugmentedDetections, DetectionDataConfig, detection_facts
from ssl_kd.errors import DataError

TINY = DigitCanvasSettings(train_canvases=6, test_canvases=3, size=48)


def _ink_box(image: torch.Tensor) -> list[float]:
    rows, cols = (image.amax(1) > 0).nonzero()[:, 0], (image.amax(0) > 0).nonzero()[:, 0]
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def test_a_lone_digit_s_box_is_the_tight_box_of_its_ink() -> None:
    glyphs, labels = digit_glyphs()
    alone = replace(TINY, min_digits=1, max_digits=1, clutter=0, noise=0.0)
    rng = np.random.default_rng(3)
    for _ in range(20):
        canvas, boxes, classes = render_canvas(alone, glyphs, labels, rng)
        assert boxes.shape == (1, 4) and boxes[0].tolist() == _ink_box(canvas)
        assert 1 <= int(classes[0]) <= 10


def test_every_box_is_tight_on_its_digit_and_nothing_is_drawn_outside_the_boxes() -> None:
    glyphs, labels = digit_glyphs()
    clean = replace(TINY, size=64, min_digits=3, max_digits=5, clutter=0, noise=0.0)
    rng = np.random.default_rng(0)
    for _ in range(10):
        canvas, boxes, _ = render_canvas(clean, glyphs, labels, rng)
        covered = torch.zeros_like(canvas, dtype=torch.bool)
        for x0, y0, x1, y1 in boxes.int().tolist():
            covered[y0:y1, x0:x1] = True
            inside = canvas[y0:y1, x0:x1]
            # each side of a tight box touches ink (where no other digit is pasted over it, it is that digit's)
            assert inside[0].amax() > 0 and inside[-1].amax() > 0 and inside[:, 0].amax() > 0
            assert inside[:, -1].amax() > 0
        assert canvas[~covered].amax() == 0


def test_canvases_are_deterministic_in_their_settings_and_cached(tmp_path: Path) -> None:
    first = generate_digit_canvases(TINY)
    assert all(torch.equal(first[key], value) for key, value in generate_digit_canvases(TINY).items())
    other = generate_digit_canvases(replace(TINY, seed=1))
    assert not torch.equal(first["train_images"], other["train_images"])
    cached = load_digit_canvases(tmp_path, TINY)
    assert (tmp_path / f"canvases-{TINY.key()}.pt").is_file()
    again = load_digit_canvases(tmp_path, TINY)
    assert all(torch.equal(cached[key], again[key]) for key in cached)
    assert first["train_offsets"][-1] == len(first["train_boxes"]) == len(first["train_labels"])
    assert first["train_images"].shape == (6, 1, 48, 48) and first["train_labels"].min() >= 1


def test_a_torn_cache_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / f"canvases-{TINY.key()}.pt").write_bytes(b"not a tensor file")
    with pytest.raises(DataError, match="not a digit-canvas file"):
        load_digit_canvases(tmp_path, TINY)


@pytest.fixture
def coco_folder(tmp_path: Path) -> Path:
    """Three images (one undecodable) and boxes: a good one, one past the image edge, a degenerate one, a crowd."""
    images = tmp_path / "val2017"
    images.mkdir(parents=True)
    Image.new("RGB", (40, 30), (200, 200, 200)).save(images / "a.png")
    Image.new("L", (20, 20), 90).save(images / "grey.png")
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 30, "width": 40},
            {"id": 2, "file_name": "broken.jpg", "height": 30, "width": 40},
            {"id": 3, "file_name": "grey.png", "height": 20, "width": 20},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [4, 5, 10, 8], "area": 80, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 9, "bbox": [30, 20, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 7, "bbox": [10, 10, 0, 5], "area": 0, "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 9, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
            {"id": 5, "image_id": 3, "category_id": 9, "bbox": [2, 2, 6, 6], "area": 36, "iscrowd": 1},
        ],
        "categories": [{"id": 9, "name": "dog"}, {"id": 7, "name": "cat"}],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    return tmp_path


def test_coco_boxes_are_clipped_or_dropped_and_counted(coco_folder: Path) -> None:
    source, categories, counts = read_coco(
        coco_folder / "annotations/instances_val2017.json", coco_folder / "val2017", image_size=80
    )
    assert [c["name"] for c in categories] == ["cat", "dog"]  # sorted by id: cat 7 -> 1, dog 9 -> 2
    assert counts == {"degenerate_boxes": 1, "clipped_boxes": 1, "crowd_boxes": 1, "unknown_category_boxes": 0}
    boxes, labels = source.targets(0)  # letterboxed: the 40 px side becomes 80, so x2
    assert boxes.tolist() == [[8, 10, 28, 26], [60, 40, 80, 60]] and labels.tolist() == [1, 2]
    image = source.load(0)
    assert image.shape == (3, 80, 80) and image[:, :60].float().mean() == pytest.approx(200, abs=1)
    assert image[:, 60:].sum() == 0  # padded below
    assert source.load(2).shape == (3, 80, 80)  # grey image read as RGB


def test_an_undecodable_coco_image_is_skipped_and_named(coco_folder: Path) -> None:
    source, _, _ = read_coco(coco_folder / "annotations/instances_val2017.json", coco_folder / "val2017", 64)
    batch = AugmentedDetections(source, "standard")[[(0, 1), (1, 2), (2, 3)]]
    assert batch.sample_ids.tolist() == [0, 2] and batch.inputs.images.shape == (2, 3, 64, 64)
    assert len(batch.skipped) == 1 and "broken.jpg" in batch.skipped[0]


def test_one_coco_file_is_split_by_a_seeded_hold_out(coco_folder: Path) -> None:
    splits = coco_splits(coco_folder, Path("annotations/instances_val2017.json"), None, None, None, 64, 0.34, 0)
    assert len(splits.train) == 2 and len(splits.test) == 1 and splits.class_names == ("cat", "dog")
    assert splits.dropped["train_degenerate_boxes"] == 1
    again = coco_splits(coco_folder, Path("annotations/instances_val2017.json"), None, None, None, 64, 0.34, 0)
    assert again.test.paths == splits.test.paths


def test_bad_json_is_one_line_naming_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    bad = tmp_path / "instances.json"
    bad.write_text('{"images": [\n  {"id": 1,, }\n]}')
    with pytest.raises(DataError, match=rf"^{bad}:2:12: not valid JSON") as err:
        read_coco(bad, tmp_path / "images", 64)
    assert "\n" not in str(err.value)


def test_missing_coco_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.json do not exist"):
        read_coco(tmp_path / "nowhere.json", tmp_path, 64)
    (tmp_path / "i.json").write_text('{"images": [], "annotations": [], "categories": []}')
    with pytest.raises(DataError, match=r"image folder .*missing does not exist"):
        read_coco(tmp_path / "i.json", tmp_path / "missing", 64)


def test_facts_hold_per_class_box_statistics() -> None:
    t = generate_digit_canvases(TINY)
    train = CanvasImages(t["train_images"], t["train_boxes"], t["train_labels"], t["train_offsets"])
    facts = detection_facts(DetectionSplits(train, train, tuple("0123456789")), 48)
    assert facts.num_classes == 10 and facts.box_stats.shape == (10, 4)
    assert facts.class_frequency.sum() == pytest.approx(1.0)
    label = int(t["train_labels"][0])
    chosen = t["train_boxes"][t["train_labels"] == label]
    assert facts.box_stats[label - 1, 1] == pytest.approx(float((chosen[:, 3] - chosen[:, 1]).mean() / 48))


def test_canvas_digits_split_as_the_canvases_split_their_digits() -> None:
    """The pretraining set's training digits are exactly the training canvases' pool: no test-canvas digit in it."""
    from ssl_kd.data.digits import digits_tensors
    from ssl_kd.detection.data import TRAIN_DIGITS, digit_pools
    from ssl_kd.detection.domain import build_canvas_digits

    splits = build_canvas_digits(None, 16)
    images, labels = digits_tensors(16)
    pools = digit_pools(np.random.default_rng(DigitCanvasSettings().seed), len(labels))
    assert len(splits.train) == TRAIN_DIGITS and len(splits.test) == len(labels) - TRAIN_DIGITS
    assert not set(pools["train"]) & set(pools["test"])
    for split, pool in ((splits.train, pools["train"]), (splits.test, pools["test"])):
        assert torch.equal(split.images, images[torch.from_numpy(pool)])
        assert torch.equal(split.labels, labels[torch.from_numpy(pool)])


def test_the_canvas_generator_draws_its_pools_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The canvases' digits come from digit_pools' split, drawn first from a fresh generator of the canvas seed (what
    canvas_digits repeats): training canvases never show a test-pool digit."""
    from ssl_kd.detection import data
    from ssl_kd.detection.data import digit_pools

    glyphs, _ = digit_glyphs()
    pools = digit_pools(np.random.default_rng(TINY.seed), len(glyphs))
    rng = np.random.default_rng(TINY.seed)
    assert np.array_equal(rng.permutation(len(glyphs))[: len(pools["train"])], pools["train"])
    fresh = np.random.default_rng(TINY.seed).bit_generator.state
    calls = []

    def spy(generator: np.random.Generator, count: int) -> dict[str, np.ndarray]:
        calls.append((generator.bit_generator.state == fresh, count))
        return digit_pools(generator, count)

    monkeypatch.setattr(data, "digit_pools", spy)
    generate_digit_canvases(TINY)
    assert calls == [(True, len(glyphs))]


def test_data_clutter_reaches_the_generator_and_stays_out_of_fingerprints_while_unset(tmp_path: Path) -> None:
    unset = DetectionDataConfig(name="digits_detection")
    assert unset.canvas_settings().clutter == DigitCanvasSettings().clutter and "clutter" not in unset.model_dump()
    clean = DetectionDataConfig(name="digits_detection", clutter=0)
    assert clean.canvas_settings().clutter == 0 and clean.model_dump()["clutter"] == 0
    with pytest.raises(ValueError, match=r"data\.clutter only applies to the digits_detection dataset"):
        DetectionDataConfig(name="coco", root=tmp_path, annotations="a.json", clutter=0)

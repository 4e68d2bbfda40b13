"""ICD's building blocks on a known image: real and fake queries, their descriptors, the decoder's shapes."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.detection.icd import (
    POINT_FEATURES,
    AuxiliaryHeads,
    InstanceDecoder,
    InstanceEncoder,
    PositionCache,
    QuerySampler,
    flatten_levels,
    map_position_encoding,
    query_counts,
    scale_one_hots,
)

NUM_CLASSES = 10
SIZE_MEAN = torch.full((NUM_CLASSES, 2), 0.2)
SIZE_STD = torch.full((NUM_CLASSES, 2), 0.05)
# a 100 px image with a 30 x 40 box of class 3 and a 40 x 30 box of class 7; a second image without instances
BOXES = [torch.tensor([[10.0, 20.0, 40.0, 60.0], [50.0, 50.0, 90.0, 80.0]]), torch.zeros(0, 4)]
LABELS = [torch.tensor([3, 7]), torch.zeros(0, dtype=torch.long)]


@pytest.fixture
def queries() -> tuple:
    torch.manual_seed(0)
    return QuerySampler(SIZE_MEAN, SIZE_STD)(BOXES, LABELS, image_size=100)


def test_query_counts_follow_the_papers_rule() -> None:
    assert [query_counts(n, 5.0, 300) for n in (0, 1, 2, 60, 400)] == [1, 6, 12, 300, 400]


def test_real_queries_are_the_ground_truth(queries: tuple) -> None:
    assert queries.boxes.shape == (2, 12, 4) and queries.classes.shape == (2, 12)
    assert queries.real[0].tolist() == [True, True] + [False] * 10 and not queries.real[1].any()
    assert queries.valid[0].all() and queries.valid[1].tolist() == [True] + [False] * 11  # one fake, then padding
    assert torch.allclose(queries.boxes[0, :2], BOXES[0] / 100)
    assert queries.classes[0, :2].tolist() == [2, 6]  # labels 1..C -> class index 0..C-1


def test_reference_points_jitter_inside_the_box(queries: tuple) -> None:
    boxes, reference = queries.boxes[queries.valid], queries.reference[queries.valid]
    centre, size = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]
    assert ((reference - centre).abs() <= 0.3 * size + 1e-6).all()
    assert not torch.allclose(reference, centre)
    distances = queries.side_distances()[queries.valid]
    assert (distances >= -1e-6).all()  # the point stays inside its box, so every side distance is >= 0
    assert torch.allclose(distances[:, 0] + distances[:, 2], size[:, 0])


def test_fake_boxes_follow_the_box_statistics() -> None:
    torch.manual_seed(1)
    many = QuerySampler(SIZE_MEAN, SIZE_STD, max_queries=3000)(
        [torch.zeros(300, 4) + 10], [torch.ones(300).long()], 100
    )
    fake = many.valid & ~many.real
    assert fake.sum() == 1500
    boxes = many.boxes[fake]
    assert boxes.min() >= 0 and boxes.max() <= 1
    inside = (boxes[:, :2] > 0).all(1) & (boxes[:, 2:] < 1).all(1)  # not clipped by the image border
    sizes = (boxes[:, 2:] - boxes[:, :2])[inside]
    assert sizes.min() >= 0.2 - 2 * 0.05 - 1e-6 and sizes.max() <= 0.2 + 2 * 0.05 + 1e-6
    assert sizes.mean().item() == pytest.approx(0.2, abs=0.01)
    centres = ((boxes[:, :2] + boxes[:, 2:]) / 2)[inside]
    assert centres.min() >= 0.03 - 1e-6 and centres.max() <= 0.97 + 1e-6
    counts = torch.bincount(many.classes[fake], minlength=NUM_CLASSES)
    assert counts.min() > 100  # uniform class prior: about 150 each


def test_the_descriptor_encodes_class_point_and_scale(queries: tuple) -> None:
    encoder = InstanceEncoder(NUM_CLASSES, hidden=32)
    descriptor = encoder.descriptor(queries)
    assert descriptor.shape == (2, 12, NUM_CLASSES + 2 * POINT_FEATURES + 10)
    first = descriptor[0, 0]
    assert first[:NUM_CLASSES].tolist() == [0, 0, 1] + [0] * 7
    x, y = queries.reference[0, 0].tolist()
    point = first[NUM_CLASSES : NUM_CLASSES + 2 * POINT_FEATURES]
    half = POINT_FEATURES // 2
    assert point[0].item() == pytest.approx(math.sin(2 * math.pi * x), abs=1e-5)
    assert point[half].item() == pytest.approx(math.cos(2 * math.pi * x), abs=1e-5)  # τ_1 = 1
    assert point[1].item() == pytest.approx(math.sin(2 * math.pi * x / 10000 ** (2 / 128)), abs=1e-5)
    assert point[POINT_FEATURES].item() == pytest.approx(math.sin(2 * math.pi * y), abs=1e-5)
    # width 0.3: ⌊log2(0.3 / 0.04)⌋ = 2; height 0.4: ⌊log2(10)⌋ = 3
    assert first[-10:].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 1, 0]  # width bins, then height bins
    assert encoder(queries).shape == (2, 12, 32)


def test_scale_bins_cover_small_and_large_boxes() -> None:
    boxes = torch.tensor([[0.0, 0.0, 0.01, 0.05], [0.0, 0.0, 0.9, 0.7]])
    bins = scale_one_hots(boxes).view(2, 2, 5).argmax(-1)
    assert bins.tolist() == [[0, 0], [4, 4]]


def test_map_position_encoding_is_detrs() -> None:
    encoding = map_position_encoding(2, 3, 8, torch.device("cpu"))
    assert encoding.shape == (6, 8)
    y, x = 2 * math.pi * 2 / (2 + 1e-6), 2 * math.pi * 1 / (3 + 1e-6)  # row 1, column 0 -> flat index 3
    expected = [math.sin(y), math.cos(y), math.sin(y / 100), math.cos(y / 100)]
    expected += [math.sin(x), math.cos(x), math.sin(x / 100), math.cos(x / 100)]
    assert torch.allclose(encoding[3], torch.tensor(expected), atol=1e-5)


def test_decoder_attends_over_every_level_and_returns_per_head_values(queries: tuple) -> None:
    levels = [torch.randn(2, 16, 4, 4), torch.randn(2, 16, 2, 2)]
    features = flatten_levels(levels)
    assert features.shape == (2, 20, 16) and torch.equal(features[1, 5], levels[0][1, :, 1, 1])
    positions = PositionCache(16)(levels)
    encoder, decoder, heads = InstanceEncoder(NUM_CLASSES, 32), InstanceDecoder(32, 16, heads=8), AuxiliaryHeads(32)
    decoded = decoder(encoder(queries), features, positions)
    assert decoded.instances.shape == (2, 12, 32)
    assert decoded.logits.shape == (2, 8, 12, 20) and decoded.values.shape == (2, 20, 8, 4)
    assert torch.allclose(decoded.values.flatten(2), decoder.value(features))  # values carry no position
    confidence, distances = heads(decoded.instances)
    assert (
        confidence.shape == (2, 12) and distances.shape == (2, 12, 4) and 0 <= distances.min() <= distances.max() <= 1
    )

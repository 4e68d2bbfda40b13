"""Detectors: torchvision's RetinaNet or FCOS heads on this library's backbones with a feature pyramid (FPN).

Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, arXiv 1708.02002 (RetinaNet); Tian et al., "FCOS:
Fully Convolutional One-Stage Object Detection", ICCV 2019, arXiv 1904.01355; Lin et al., "Feature Pyramid Networks
for Object Detection", CVPR 2017, arXiv 1612.03144 (docs/methods/detection.md).

A :class:`Detector` is built from scratch (no pretrained weights): a registered backbone (``resnet50``,
``resnet18``, ``mobilenet_v3_small``, ``mobilenet_v2``) tapped at its last three stages (``forward_taps``), a
torchvision ``FeaturePyramidNetwork`` of ``fpn_channels`` (levels P3, P4, P5 with the ImageNet stems: strides 8, 16,
32), torchvision's head and anchor generator, and torchvision's losses and post-processing. The model never resizes:
images arrive at the data's fixed size, so a teacher's and a student's FPN levels at equal strides have equal
spatial size. Labels are ``1..num_classes`` (0 is background, torchvision's convention); the heads have
``num_classes`` outputs, column ``k - 1`` scoring label ``k``.

RetinaNet: sigmoid focal loss (alpha 0.25, gamma 2) over anchors matched at IoU >= 0.5 (background < 0.4) and L1 box
regression of the matched anchors, each normalised by the number of foreground anchors. FCOS: focal loss over points
inside a box's centre region at the level of its size, GIoU box loss and centre-ness BCE.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchvision.models.detection import FCOS, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops import FeaturePyramidNetwork

from ssl_kd.errors import ConfigError
from ssl_kd.models.base import BackboneModel, build_model
from ssl_kd.registry import MODELS

Head = Literal["retinanet", "fcos"]
BACKBONE_TAPS: dict[str, tuple[str, str, str]] = {
    "resnet18": ("layer2", "layer3", "layer4"),
    "resnet50": ("layer2", "layer3", "layer4"),
    "mobilenet_v3_small": ("stage2", "stage3", "stage4"),
    "mobilenet_v2": ("stage2", "stage3", "stage4"),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PROBE_SIZE = 64
"""Side of the blank image run once through a new backbone to read its taps' channels and strides."""


class PyramidBackbone(nn.Module):
    """A library backbone's last three stages (``forward_taps``) through a torchvision FPN: levels P3, P4, P5.

    Attributes:
        body: the backbone (its pool and classifier are dropped: detection never uses them).
        taps: the tapped block names, shallow to deep.
        out_channels: FPN channels of every level (torchvision's detectors read this attribute).
        strides: each level's stride in pixels.
    """

    def __init__(self, body: BackboneModel, taps: tuple[str, ...], out_channels: int) -> None:
        super().__init__()
        body.pool = nn.Identity()
        body.classifier = nn.Identity()
        self.body = body
        self.taps = taps
        was_training = body.training
        body.eval()
        with torch.no_grad():
            probe = body.forward_taps(torch.zeros(1, 3, PROBE_SIZE, PROBE_SIZE), taps)
        body.train(was_training)
        self.strides = [PROBE_SIZE // probe[name].shape[-1] for name in taps]
        self.fpn = FeaturePyramidNetwork([probe[name].shape[1] for name in taps], out_channels)
        self.out_channels = out_channels

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        taps = self.body.forward_taps(images, self.taps)
        return self.fpn(OrderedDict((name, taps[name]) for name in self.taps))


class Detector(nn.Module):
    """A one-stage detector (torchvision RetinaNet or FCOS) on a library backbone + FPN, at a fixed image size.

    ``forward`` takes ``(B, 3, H, W)`` images in [0, 1] and returns, per image, ``{"boxes": (N, 4) xyxy pixels,
    "scores": (N,), "labels": (N,) int64 in 1..num_classes}``. Training goes through :meth:`normalize`,
    :meth:`features` and :meth:`detection_losses`, so a distillation method can read and change the FPN levels
    between the backbone and the head.

    Attributes:
        num_classes: object classes (labels 1..num_classes).
        fpn_channels: channels of every FPN level.
        head_kind: ``retinanet`` or ``fcos``.
    """

    def __init__(
        self,
        num_classes: int,
        backbone: str = "resnet18",
        backbone_options: dict[str, Any] | None = None,
        fpn_channels: int = 64,
        head: Head = "retinanet",
        anchor_size: int = 16,
        aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        """Build from scratch.

        Args:
            num_classes: object classes (labels 1..num_classes; 0 is background).
            backbone: registered backbone (``resnet50``, ``resnet18``, ``mobilenet_v3_small``, ``mobilenet_v2``).
            backbone_options: the backbone builder's options (e.g. ``{stem: small}``).
            fpn_channels: channels of the FPN levels and head (a multiple of 32: the heads use GroupNorm(32)).
            head: ``retinanet`` (anchors: 3 scales x ``aspect_ratios``, base ``anchor_size`` at P3, doubling per
                level) or ``fcos`` (one point per location).
            anchor_size: RetinaNet's anchor side at the first level, in pixels.
            aspect_ratios: RetinaNet's anchor height / width ratios.
            score_thresh: detections scoring below this are dropped before NMS.
            nms_thresh: IoU of class-wise non-maximum suppression.
            detections_per_img: detections kept per image (COCO evaluation reads up to 100).
            mean: per-channel mean subtracted by :meth:`normalize`.
            std: per-channel std divided by :meth:`normalize`.
        """
        super().__init__()
        if backbone not in BACKBONE_TAPS:
            raise ConfigError(f"detector backbone {backbone!r} is not one of {', '.join(BACKBONE_TAPS)}")
        if fpn_channels % 32:
            raise ConfigError(f"fpn_channels must be a multiple of 32 (GroupNorm(32) in the head), not {fpn_channels}")
        self.num_classes = num_classes
        self.fpn_channels = fpn_channels
        self.head_kind = head
        self.arch = head
        self._options: dict[str, Any] = {
            "num_classes": num_classes,
            "backbone": backbone,
            "backbone_options": dict(backbone_options or {}),
            "fpn_channels": fpn_channels,
            "head": head,
            "anchor_size": anchor_size,
            "aspect_ratios": tuple(aspect_ratios),
            "score_thresh": score_thresh,
            "nms_thresh": nms_thresh,
            "detections_per_img": detections_per_img,
            "mean": tuple(mean),
            "std": tuple(std),
        }
        body = build_model(backbone, 0, backbone_options or {})
        pyramid = PyramidBackbone(body, BACKBONE_TAPS[backbone], fpn_channels)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        norm = partial(nn.GroupNorm, 32)
        post = {"score_thresh": score_thresh, "nms_thresh": nms_thresh, "detections_per_img": detections_per_img}
        levels = len(pyramid.strides)
        if head == "retinanet":
            sizes = tuple(
                tuple(round(anchor_size * 2**level * 2 ** (k / 3)) for k in range(3)) for level in range(levels)
            )
            anchors = AnchorGenerator(sizes, (tuple(aspect_ratios),) * levels)
            net = RetinaNetHead(fpn_channels, anchors.num_anchors_per_location()[0], num_classes, norm_layer=norm)
            self.net: RetinaNet | FCOS = RetinaNet(pyramid, num_classes, anchor_generator=anchors, head=net, **post)
        elif head == "fcos":
            anchors = AnchorGenerator(tuple((s,) for s in pyramid.strides), ((1.0,),) * levels)
            self.net = FCOS(pyramid, num_classes, anchor_generator=anchors, **post)
        else:
            raise ConfigError(f"detector head {head!r} is not retinanet or fcos")

    @property
    def pyramid(self) -> PyramidBackbone:
        return self.net.backbone

    def backbone_body(self) -> BackboneModel:
        """The backbone without FPN and head: where pretrained backbone weights go (``ModelSpec.weights`` and
        ``backbone_from``)."""
        return self.pyramid.body

    def normalize(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` images in [0, 1] -> the network's input (per-channel standardised; never resized)."""
        return (images - self.mean) / self.std

    def features(self, images: Tensor) -> list[Tensor]:
        """Normalised images -> FPN levels, shallow to deep, each ``(B, fpn_channels, H / stride, W / stride)``."""
        return list(self.net.backbone(images).values())

    def strides(self) -> list[int]:
        """Each FPN level's stride in pixels (8, 16, 32 for the ImageNet stems)."""
        return list(self.pyramid.strides)

    def head_outputs(self, features: list[Tensor]) -> dict[str, Tensor]:
        """The head's raw outputs over all levels' anchors: ``cls_logits`` (B, A, C), ``bbox_regression`` (B, A, 4)
        (FCOS also ``bbox_ctrness`` (B, A, 1))."""
        return self.net.head(features)

    def anchors(self, images: Tensor, features: list[Tensor]) -> list[Tensor]:
        """Per image, every anchor (RetinaNet) or point box (FCOS) over all levels, ``(A, 4)`` xyxy pixels."""
        size = (images.shape[-2], images.shape[-1])
        return self.net.anchor_generator(ImageList(images, [size] * images.shape[0]), features)

    def detection_losses(
        self, images: Tensor, features: list[Tensor], boxes: list[Tensor], labels: list[Tensor]
    ) -> dict[str, Tensor]:
        """torchvision's detection losses of ``features`` against the true boxes (xyxy pixels) and labels (1..C).

        RetinaNet: ``classification`` (sigmoid focal) and ``bbox_regression`` (L1); FCOS adds ``bbox_ctrness``.
        """
        outputs = self.head_outputs(features)
        anchors = self.anchors(images, features)
        targets = [{"boxes": b, "labels": y - 1} for b, y in zip(boxes, labels, strict=True)]
        if isinstance(self.net, FCOS):
            per_level = [f.shape[-2] * f.shape[-1] for f in features]
            return self.net.compute_loss(targets, outputs, anchors, per_level)
        return self.net.compute_loss(targets, outputs, anchors)

    def detect(self, images: Tensor, features: list[Tensor]) -> list[dict[str, Tensor]]:
        """Decoded, score-thresholded, NMS-filtered detections of ``features`` (labels 1..num_classes)."""
        outputs = self.head_outputs(features)
        anchors = self.anchors(images, features)
        per_level = [f.shape[-2] * f.shape[-1] for f in features]
        per_location = outputs["cls_logits"].shape[1] // sum(per_level)
        counts = [n * per_location for n in per_level]
        split = {key: list(value.split(counts, dim=1)) for key, value in outputs.items()}
        split_anchors = [list(a.split(counts)) for a in anchors]
        size = (images.shape[-2], images.shape[-1])
        detections = self.net.postprocess_detections(split, split_anchors, [size] * images.shape[0])
        return [{**d, "labels": d["labels"] + 1} for d in detections]

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        """Per image ``{"boxes", "scores", "labels"}`` of ``(B, 3, H, W)`` images in [0, 1]."""
        return self.detect(images, self.features(self.normalize(images)))

    def spec(self) -> dict[str, Any]:
        """``{"arch", "options"}``: ``build_from_spec`` rebuilds the detector from its registered builder."""
        return {"arch": self.arch, "options": dict(self._options)}


@MODELS.register("retinanet")
def retinanet(num_classes: int, **options: Any) -> Detector:
    """RetinaNet (focal loss, anchors) on a library backbone + FPN; options: see :class:`Detector`."""
    return Detector(num_classes, **{**options, "head": "retinanet"})


@MODELS.register("fcos")
def fcos(num_classes: int, **options: Any) -> Detector:
    """FCOS (anchor-free points, centre-ness) on a library backbone + FPN; options: see :class:`Detector`."""
    return Detector(num_classes, **{**options, "head": "fcos"})


# The builders take Detector's options but its head: ``build_model`` checks a spec's options (nearest valid name on a
# typo) and fills their defaults from this signature, as it does for every backbone.
_BUILDER_SIGNATURE = inspect.signature(Detector.__init__)
retinanet.__signature__ = fcos.__signature__ = _BUILDER_SIGNATURE.replace(  # type: ignore[attr-defined]
    parameters=[p for name, p in _BUILDER_SIGNATURE.parameters.items() if name not in ("self", "head")],
    return_annotation=Detector,
)

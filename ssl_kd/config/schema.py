"""Typed schemas for pipeline stages. Unknown keys are errors (``extra="forbid"``).

A stage kind or a method extends :class:`StageConfig` / :class:`TrainStageConfig` with its own fields; the loader
picks the class from the stage's ``kind`` (and ``method`` for training stages) through the registries.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from ssl_kd.errors import ConfigError
from ssl_kd.registry import DATASETS, METHODS

MISSING_PATHS = "missing_paths"
"""Validation-context key: a list that collects missing local paths instead of failing on them (``ssl-kd validate``)."""


def missing_path(info: ValidationInfo, message: str) -> None:
    """Fail with ``message``, or record it where the validation context collects missing paths."""
    collected = (info.context or {}).get(MISSING_PATHS)
    if collected is None:
        raise ValueError(message)
    collected.append(message)


class Strict(BaseModel):
    """Base schema: unknown keys are rejected and values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)


class VideoOptions(Strict):
    """How clips are cut from the videos of a video dataset (``data.video``)."""

    frames: int = Field(8, ge=1, description="frames per clip, spread evenly over the clip window")
    clip_seconds: float | None = Field(
        None, gt=0, description="clip window in seconds (random in training, centred in evaluation); null: whole video"
    )
    decoder: Literal["decord", "pyav"] = Field("decord", description="decord (PyAV as fallback) or pyav")
    cache: bool = Field(True, description="keep deterministic clips (whole videos, centre clips) in memory")
    single_frame: bool = Field(
        False, description="baseline without motion: every frame of a clip replaced by its middle frame"
    )
    moving_digits: Literal["motion", "profile"] = Field(
        "motion",
        description="embedded moving digits (data.root unset): motion classes (data/moving_digits) or "
        "motion-profile classes (data/moving_digits_profile); ignored when data.root is set",
    )

    @model_serializer(mode="wrap")
    def _drop_default_scheme(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Left out of dumps (and fingerprints) at its default, so that runs from before it existed stay valid."""
        dumped = handler(self)
        if dumped.get("moving_digits") == "motion":
            dumped.pop("moving_digits")
        return dumped


DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
VIDEO_KEYS = ("format", "split", "video")
UNSET_DROPPED_KEYS = ("labelled_per_class",)
"""Keys left out of dumps (and fingerprints) while unset, so that runs from before they existed stay valid."""


class DatasetConfig(Strict):
    """What every domain's data config has: a registered dataset, an optional local path, and batch sizes.

    A domain's data config subclasses this (``DataConfig`` for image and video classification); ``domain`` names
    the dataset domain the class describes, and a dataset of another domain is refused.
    """

    domains: ClassVar[tuple[str, ...]] = ()

    name: str = Field(description="dataset registry key (`ssl-kd list datasets`)")
    root: Path | None = Field(None, description="local dataset path; embedded datasets need none")
    batch_size: int = Field(128, ge=1)
    eval_batch_size: int = Field(512, ge=1)
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes (results do not depend on it)")

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        entry = DATASETS.get(name)
        if cls.domains and entry.domain not in cls.domains:
            same = [key for key, other in DATASETS.items() if other.domain in cls.domains]
            raise ValueError(
                f"dataset {name!r} is a {entry.domain} dataset; this stage reads {' or '.join(cls.domains)} data: "
                f"{', '.join(same)}"
            )
        return name

    @model_validator(mode="after")
    def _root_given_and_exists(self, info: ValidationInfo) -> DatasetConfig:
        if self.root is None and DATASETS.get(self.name).requires_root:
            raise ValueError(f"dataset {self.name!r} needs data.root (a local path; nothing is downloaded)")
        if self.root is not None and not self.root.exists():
            missing_path(info, f"data.root {str(self.root)!r} does not exist")
        return self


class DataConfig(DatasetConfig):
    """Which image or video dataset a stage reads and how it is batched and augmented.

    ``format``, ``split`` and ``video`` apply to video datasets only; they are left out of image datasets' dumps
    (and hence fingerprints), as is ``labelled_per_class`` while it is unset.
    """

    domains: ClassVar[tuple[str, ...]] = ("image_classification", "video_classification")

    name: str = Field("digits", description="dataset registry key (`ssl-kd list datasets`)")
    root: Path | None = Field(None, description="local dataset path; the embedded digits need none")
    image_size: int = Field(32, ge=8, description="square input size in pixels")
    augment: Literal["none", "light", "standard"] = Field(
        "light", description="none; light = small affine jitter (digits); standard = crop + flip (photos)"
    )
    train_per_class: int | None = Field(
        None, ge=1, description="keep only this many labelled training images per class (low-data regimes)"
    )
    labelled_per_class: int | None = Field(
        None,
        ge=1,
        description="semi-supervised: keep every training sample but only this many labels per class (the same "
        "draw as train_per_class); the rest are unlabelled, for methods that can use them (e.g. a KD transfer set)",
    )
    subset_seed: int = Field(0, description="seed of the train_per_class / labelled_per_class draw")
    format: Literal["auto", "folder", "ucf101", "hmdb51", "csv"] = Field(
        "auto", description="video datasets: layout of data.root (auto: detected)"
    )
    split: int = Field(1, ge=1, le=3, description="video datasets: official UCF101 / HMDB51 split")
    video: VideoOptions = Field(default_factory=VideoOptions, description="video datasets: clip options")

    @model_validator(mode="after")
    def _subsets_and_video_keys(self) -> DataConfig:
        if self.train_per_class is not None and self.labelled_per_class is not None:
            raise ValueError(
                "set train_per_class (drop the other samples) or labelled_per_class (keep them unlabelled), not both"
            )
        if not DATASETS.get(self.name).video:
            changed = [key for key in VIDEO_KEYS if key in self.model_fields_set]
            if changed:
                raise ValueError(f"{', '.join(changed)} only apply to video datasets, not to {self.name!r}")
        return self

    @model_serializer(mode="wrap")
    def _drop_inapplicable_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped = handler(self)
        for key in UNSET_DROPPED_KEYS:
            if dumped.get(key) is None:
                dumped.pop(key, None)
        if not DATASETS.get(self.name).video:
            for key in VIDEO_KEYS:
                dumped.pop(key, None)
        return dumped


class EngineConfig(Strict):
    """Training-engine settings shared by every training stage."""

    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda or cuda:N")
    amp: Literal["off", "auto", "bf16", "fp16"] = Field(
        "off", description="mixed precision; auto = bf16 where supported, else fp16 on CUDA"
    )
    channels_last: bool = False
    grad_clip: float | None = Field(None, gt=0, description="max global gradient norm")
    seed: int = 0
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms(True)")
    checkpoint_every: int = Field(50, ge=1, description="steps between resumable checkpoints")
    log_every: int = Field(10, ge=1, description="steps between loss syncs (NaN check, progress, TensorBoard)")
    eval_every: int = Field(0, ge=0, description="epochs between test evaluations (0: only at the end)")
    progress: bool = True
    tensorboard: bool = True
    sync_batchnorm: bool = Field(False, description="SyncBatchNorm across torchrun processes (CUDA only)")

    @field_validator("device")
    @classmethod
    def _device_string(cls, device: str) -> str:
        if not DEVICE.fullmatch(device):
            raise ValueError(f"engine.device must be auto, cpu, cuda or cuda:N (N a GPU index), got {device!r}")
        return device

    # Settings that change where or how visibly a stage runs, not what it computes.
    NON_SEMANTIC: ClassVar[tuple[str, ...]] = (
        "device",
        "checkpoint_every",
        "log_every",
        "progress",
        "tensorboard",
    )


class OptimConfig(Strict):
    """Optimiser and learning-rate schedule (per-step, with linear warmup)."""

    name: Literal["sgd", "adam", "adamw"] = Field(
        "sgd", description="sgd and adam add weight_decay · θ to the gradient (L2); adamw decouples it"
    )
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)
    milestones: list[float] = Field(default_factory=list, description="epochs where a step schedule decays")
    gamma: float = Field(0.1, gt=0, description="step-schedule decay factor")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="cosine floor as a fraction of lr")


class ModelSpec(Strict):
    """A model: a fresh ``arch``, optionally with pretrained ``weights`` from a file or its backbone initialised from
    an earlier stage's model (``backbone_from: STAGE``), or the output model of an earlier stage (``from: STAGE``).

    With both ``arch`` and ``from``, ``arch`` is a check: the loaded model must be of that architecture. ``weights``
    are read without running code and mapped onto ``arch`` (``ssl_kd.models.weights``; ``weights_key`` and
    ``strip_prefix`` replace the layout detection); on a detector they initialise its backbone. ``backbone_from``
    copies an earlier stage's backbone (its classifier left out) into the new arch's backbone, e.g. a classifier
    pretrained on object images into a detector (``ssl_kd.models.weights.copy_backbone``). Unset, these keys are left
    out of dumps and fingerprints.
    """

    arch: str | None = None
    from_: str | None = Field(None, alias="from", description="name of an earlier stage whose model to load")
    options: dict[str, Any] = Field(default_factory=dict, description="architecture options, e.g. stem")
    weights: Path | None = Field(
        None, description="pretrained weights for arch: .pth, .pth.tar, .pt, .ckpt or .safetensors (`ssl-kd inspect`)"
    )
    weights_key: str | None = Field(None, description="dotted key of the state dict in the weights file")
    strip_prefix: str | None = Field(None, description="name prefix of the backbone's tensors in the weights file")
    backbone_from: str | None = Field(
        None, description="an earlier stage whose model's backbone initialises this new arch's backbone"
    )

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, arch: str | None) -> str | None:
        if arch is not None:
            from ssl_kd.models.base import check_arch  # models import torch; schema stays importable without

            check_arch(arch)
        return arch

    @model_validator(mode="after")
    def _arch_or_from(self, info: ValidationInfo) -> ModelSpec:
        if self.arch is None and self.from_ is None:
            raise ValueError("give 'arch' (a new model) or 'from' (an earlier stage's model), or both")
        if self.from_ is not None and self.options:
            raise ValueError("'options' only apply to a new 'arch', not to a model loaded 'from' a stage")
        if self.weights is not None and self.from_ is not None:
            raise ValueError("'weights' load a new 'arch'; a model loaded 'from' a stage has its own")
        if self.weights is None and (self.weights_key is not None or self.strip_prefix is not None):
            raise ValueError("'weights_key' and 'strip_prefix' only apply with 'weights'")
        if self.backbone_from is not None and (self.arch is None or self.from_ is not None):
            raise ValueError("'backbone_from' initialises a new 'arch'; give 'arch' and no 'from'")
        if self.backbone_from is not None and self.weights is not None:
            raise ValueError("give 'weights' (a file) or 'backbone_from' (a stage), not both")
        if self.weights is not None and not self.weights.is_file():
            missing_path(info, f"weights file {str(self.weights)!r} does not exist")
        return self

    def pretrained_keys(self) -> list[str]:
        """The pretrained-initialisation keys given (``weights``, ``backbone_from``)."""
        return [key for key in ("weights", BACKBONE_FROM) if getattr(self, key) is not None]

    def refuse_pretrained(self, model_kind: str) -> None:
        """Raise a ConfigError naming the pretrained keys given: a domain whose models (``model_kind``, e.g.
        "a KGE model") have no backbone refuses them rather than ignores them."""
        if keys := self.pretrained_keys():
            raise ConfigError(
                f"{', '.join(keys)}: {model_kind} has no pretrained backbone; "
                "it starts fresh or comes 'from' an earlier stage"
            )

    @model_serializer(mode="wrap")
    def _drop_unset_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Unset weights and backbone keys are left out, so that runs from before they existed keep their
        fingerprints."""
        dumped = handler(self)
        for key in OPTIONAL_SPEC_KEYS:
            if dumped.get(key) is None:
                dumped.pop(key, None)
        return dumped


BACKBONE_FROM = "backbone_from"
OPTIONAL_SPEC_KEYS = ("weights", "weights_key", "strip_prefix", BACKBONE_FROM)


class StageConfig(Strict):
    """Fields every stage has. Subclasses add their own."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="stage name: letters, digits, _ and -")
    kind: str

    def references(self) -> dict[str, str]:
        """Map of config field -> the earlier stage whose output that field uses (a model spec's ``backbone_from``
        under ``FIELD.backbone_from``)."""
        refs = {}
        for field_name in type(self).model_fields:
            value = getattr(self, field_name)
            if isinstance(value, ModelSpec) and value.from_ is not None:
                refs[field_name] = value.from_
            if isinstance(value, ModelSpec) and value.backbone_from is not None:
                refs[f"{field_name}.{BACKBONE_FROM}"] = value.backbone_from
        return refs


class EarlyStoppingConfig(Strict):
    """Stop a training stage when a validation metric stops improving, and keep its best state.

    The domain's validation (``Domain.validator``) runs every ``every`` epochs; after ``patience`` validations
    without improvement of ``metric`` the stage stops, and the method's state from its best validation is restored
    before the stage writes its model (the state is checkpointed too, so a resumed run stops where a whole one would).
    """

    metric: str = Field(description="validation metric to watch, e.g. val_accuracy or val_recall_at_50")
    mode: Literal["max", "min"] = Field("max", description="max: higher is better; min: lower is better")
    patience: int = Field(50, ge=1, description="validations without improvement before stopping")
    every: int = Field(1, ge=1, description="epochs between validations")


class TrainStageConfig(StageConfig):
    """A training stage: a registered method trained by the shared engine."""

    kind: Literal["train"] = "train"
    method: str
    epochs: int = Field(10, ge=1)
    data: DataConfig = Field(default_factory=DataConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    early_stopping: EarlyStoppingConfig | None = Field(
        None, description="stop on a validation metric and keep the best state (domains with a validation split)"
    )

    @model_validator(mode="after")
    def _method_takes_the_data(self) -> TrainStageConfig:
        method = METHODS.get(self.method)
        domain = DATASETS.get(self.data.name).domain
        if method.domains and domain not in method.domains:
            able = [name for name, other in METHODS.items() if domain in other.domains]
            raise ValueError(
                f"method {self.method!r} trains on {' or '.join(method.domains)} data, not on {domain} dataset "
                f"{self.data.name!r}; methods for it: {', '.join(able)}"
            )
        if getattr(self.data, "labelled_per_class", None) is not None and not method.partial_labels:
            able = [name for name, other in METHODS.items() if getattr(other, "partial_labels", False)]
            raise ValueError(
                f"data.labelled_per_class: method {self.method!r} cannot use unlabelled samples; use train_per_class, "
                f"or one of: {', '.join(able)}"
            )
        return self

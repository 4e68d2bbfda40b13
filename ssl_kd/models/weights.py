"""Pretrained weights from a file: read without running code, recognise the layout, map onto an arch.

A model spec's ``weights: PATH`` (``.pth``, ``.pth.tar``, ``.pt``, ``.ckpt``, ``.safetensors``) is read with
``torch.load(weights_only=True)`` (plain containers and tensors; an allow-list of plain types such as DINO's
``argparse.Namespace`` of arguments) or ``safetensors.torch.load_file``; nothing in a file executes. Then:

1. *locate* the state dict: ``weights_key`` when given (a dotted path such as ``teacher`` or ``state_dict``), this
   library's ``model.pt``, a bare state dict, or the first of :data:`WRAPPER_KEYS` that holds one;
2. *recognise* the layout (:data:`LAYOUTS`: MoCo v1/v2 and v3, SwAV, DINO, Barlow Twins, solo-learn, timm,
   torchvision; ``strip_prefix`` replaces the detection): strip the backbone's prefix, drop the heads and key
   encoders the layout is known to hold;
3. *map* the remaining names onto the arch (:data:`SOURCE_PREFIXES`: e.g. torchvision's ``layer1.`` is this
   library's ``blocks.layer1.``) and compare with the model's state dict.

Every backbone tensor must be loaded with its shape: a missing one, one the file holds under another name, or a
shape mismatch is a :class:`~ssl_kd.errors.DataError` naming the first keys on both sides (never a silent
``strict=False``). A classifier head of another class count, or on a headless model, is dropped (reinitialised),
and the one-line summary says so.
"""

from __future__ import annotations

import argparse
import pathlib
import pickle
import re
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy._core.multiarray import scalar as numpy_scalar
from torch import Tensor, nn

from ssl_kd.errors import DataError

WEIGHT_SUFFIXES = (".pth", ".pth.tar", ".pt", ".ckpt", ".safetensors", ".bin", ".tar")
SAFE_GLOBALS: list[Any] = [
    argparse.Namespace,  # DINO's and MoCo's saved command-line arguments
    pathlib.PosixPath,
    pathlib.WindowsPath,
    np.dtype,
    numpy_scalar,  # numpy scalars, e.g. a saved best accuracy (numpy 2 name, and numpy 1's below)
    (numpy_scalar, "numpy.core.multiarray.scalar"),
    *(type(np.dtype(name)) for name in ("float64", "float32", "int64", "int32", "bool")),
]
"""Plain types a checkpoint may hold beside its tensors; anything else is refused (it could run code)."""

WRAPPER_KEYS = ("state_dict_ema", "teacher", "state_dict", "model", "model_ema", "module", "net", "network")
"""Top-level keys that hold a state dict, in the order tried (timm prefers its EMA weights, DINO its teacher)."""

CLASSIFIER = "classifier."
NUM_BATCHES_TRACKED = "num_batches_tracked"
SHOWN = 3


@dataclass(frozen=True)
class Layout:
    """A checkpoint layout: what marks it, the backbone prefix to strip, and the prefixes dropped (and why).

    Attributes:
        name: Shown in the summary and by ``ssl-kd inspect``.
        marks: Prefixes every one of which some key starts with (raw names).
        strip: The backbone's prefix, removed from the names that keep it; other names are dropped.
        drop: ``(prefix, what)`` of raw names dropped before stripping (heads, key encoders, queues).
        wrapper: The top-level key the state dict must come from (None: any).
    """

    name: str
    marks: tuple[str, ...]
    strip: str
    drop: tuple[tuple[str, str], ...] = ()
    wrapper: str | None = None


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "moco_v1_v2",
        ("module.encoder_q.",),
        "module.encoder_q.",
        (
            ("module.encoder_q.fc.", "projection head"),
            ("module.encoder_k.", "key encoder"),
            ("module.queue", "queue"),
        ),
    ),
    Layout(
        "moco_v3",
        ("module.base_encoder.",),
        "module.base_encoder.",
        (
            ("module.base_encoder.fc.", "projection head"),
            ("module.base_encoder.head.", "projection head"),
            ("module.momentum_encoder.", "momentum encoder"),
            ("module.predictor.", "predictor"),
        ),
    ),
    Layout("dino", ("module.backbone.", "module.head."), "module.backbone.", (("module.head.", "DINO head"),)),
    Layout("dino", ("backbone.", "head."), "backbone.", (("head.", "DINO head"),)),
    Layout(
        "barlow_twins",
        ("module.backbone.", "module.projector."),
        "module.backbone.",
        (("module.projector.", "projector"), ("module.bn.", "projector batch norm")),
    ),
    Layout(
        "swav",
        ("module.prototypes.",),
        "module.",
        (("module.projection_head.", "projection head"), ("module.prototypes.", "prototypes")),
    ),
    Layout(
        "solo_learn",
        ("backbone.",),
        "backbone.",
        (
            ("projector.", "projector"),
            ("predictor.", "predictor"),
            ("momentum_backbone.", "momentum backbone"),
            ("momentum_projector.", "momentum projector"),
            ("classifier.", "online linear classifier"),
        ),
    ),
    Layout("timm_ema", (), "", wrapper="state_dict_ema"),
    Layout("data_parallel", ("module.",), "module."),
    Layout("plain", (), ""),
)


def _stage_prefixes(stops: dict[str, int]) -> list[tuple[str, str]]:
    """torchvision's ``features.i.`` -> ``blocks.<stage>.i.`` (stages are slices of ``features``; indices kept)."""
    prefixes, start = [], 0
    for stage, stop in stops.items():
        prefixes += [(f"features.{i}.", f"blocks.{stage}.{i}.") for i in range(start, stop)]
        start = stop
    return prefixes


SOURCE_PREFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    **{
        arch: (
            ("conv1.", "blocks.stem.0."),
            ("bn1.", "blocks.stem.1."),
            *((f"layer{i}.", f"blocks.layer{i}.") for i in range(1, 5)),
            ("fc.", CLASSIFIER),
        )
        for arch in ("resnet18", "resnet50")
    },
    "mobilenet_v2": (
        *_stage_prefixes({"stem": 2, "stage1": 4, "stage2": 7, "stage3": 14, "stage4": 19}),
        ("classifier.1.", CLASSIFIER),
    ),
    "mobilenet_v3_small": (
        *_stage_prefixes({"stem": 1, "stage1": 2, "stage2": 4, "stage3": 9, "stage4": 13}),
        ("classifier.0.", "pool.2."),
        ("classifier.3.", CLASSIFIER),
    ),
}
"""Per arch: ``(source prefix, this library's prefix)`` from the naming of the arch's usual checkpoints (torchvision's
for ResNets and MobileNets) to the model's ``state_dict``; names that already fit the model stay as they are.
A model may carry its own table as ``source_prefixes`` (timm backbones do)."""


@dataclass
class Checkpoint:
    """A weights file as read: where its state dict was found and the layout it was recognised as.

    Attributes:
        path: The file.
        top_keys: Its top-level keys (empty for a bare state dict or a safetensors file).
        key: Where the state dict was found (``weights_key`` form), None for the top level.
        tensors: That state dict, with the file's names.
        layout: The recognised layout (``custom`` with ``strip_prefix``).
        spec: The saved spec when the file is this library's ``model.pt``.
    """

    path: Path
    top_keys: list[str]
    key: str | None
    tensors: dict[str, Tensor]
    layout: Layout
    spec: dict[str, Any] | None = None

    @property
    def parameter_count(self) -> int:
        """Elements in the state dict's floating-point tensors."""
        return sum(t.numel() for t in self.tensors.values() if t.is_floating_point())

    def prefixes(self, limit: int = 8) -> list[tuple[str, int]]:
        """The most common name prefixes and their tensor counts, one level below the prefix all names share."""
        names = list(self.tensors)
        shared = ""
        while True:
            heads = Counter(_next_prefix(name, shared) for name in names)
            if len(heads) != 1 or next(iter(heads)) == shared:
                break
            shared = next(iter(heads))
        return heads.most_common(limit)


def _next_prefix(name: str, shared: str) -> str:
    rest = name[len(shared) :]
    return shared + rest.split(".", 1)[0] + "." if "." in rest else shared


def read_weights_file(path: Path) -> Any:
    """The object stored in ``path``, loaded without unpickling code.

    Raises:
        DataError: Missing file; truncated or unreadable file; or a pickle that needs a global outside
            :data:`SAFE_GLOBALS` (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"weights file not found: {path}")
    if path.name.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as err:
            raise DataError(f"{path}: not a readable safetensors file (truncated?): {err}") from err
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        wanted = re.findall(r"GLOBAL ([\w.]+)", str(err))
        if not wanted:
            raise DataError(f"{path}: not a readable checkpoint: {str(err).splitlines()[0]}") from err
        raise DataError(
            f"{path}: loading it would unpickle {wanted[0]!r}, which can run code, so it is refused; in a trusted "
            "environment re-save only its tensors (torch.save(state_dict, new_file) or a .safetensors file)"
        ) from err
    except (RuntimeError, EOFError, KeyError, ValueError, zipfile.BadZipFile, OSError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: truncated or not a checkpoint ({detail})") from err


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(isinstance(v, Tensor) for v in value.values())


def _tensors_of(value: Any, path: Path, key: str | None) -> dict[str, Tensor]:
    """The tensors of a state dict found at ``key``; other entries (counters in a DDP dict) are refused."""
    if not isinstance(value, Mapping) or not any(isinstance(v, Tensor) for v in value.values()):
        where = f"key {key!r}" if key else "the top level"
        kind = type(value).__name__
        raise DataError(f"{path}: {where} holds no state dict (a {kind}); set weights_key to the key that does")
    others = [name for name, v in value.items() if not isinstance(v, Tensor)]
    if others:
        raise DataError(f"{path}: the state dict at {key or 'the top level'} also holds non-tensors: {others[:SHOWN]}")
    return dict(value)


def locate_state_dict(obj: Any, path: Path, weights_key: str | None = None) -> tuple[str | None, dict[str, Tensor]]:
    """``(key, state_dict)``: the state dict at ``weights_key`` (dotted), or the one the file's layout puts where.

    Raises:
        DataError: ``weights_key`` is absent, or no state dict is found (an unknown layout).
    """
    if weights_key is not None:
        value = obj
        for part in weights_key.split("."):
            if not isinstance(value, Mapping) or part not in value:
                keys = ", ".join(map(str, value)) if isinstance(value, Mapping) else type(value).__name__
                raise DataError(f"{path}: no key {part!r} for weights_key={weights_key!r}; there: {keys}")
            value = value[part]
        return weights_key, _tensors_of(value, path, weights_key)
    if _is_state_dict(obj):
        return None, dict(obj)
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if _is_state_dict(obj.get(key)):
                return key, dict(obj[key])
        keys = ", ".join(map(str, obj)) or "(none)"
        raise DataError(
            f"{path}: unknown checkpoint layout: none of its top-level keys ({keys}) holds a state dict; "
            "set weights_key to the (dotted) key that does"
        )
    raise DataError(f"{path}: unknown checkpoint layout: it holds a {type(obj).__name__}, not a state dict")


def detect_layout(names: list[str], key: str | None, strip_prefix: str | None = None) -> Layout:
    """The first of :data:`LAYOUTS` whose marks the names carry (``strip_prefix``: a ``custom`` layout)."""
    if strip_prefix is not None:
        return Layout("custom", (), strip_prefix)
    for layout in LAYOUTS:
        if layout.wrapper is not None and layout.wrapper != key:
            continue
        if all(any(name.startswith(mark) for name in names) for mark in layout.marks):
            return layout
    raise AssertionError("the plain layout matches every state dict")


def read_checkpoint(path: Path, weights_key: str | None = None, strip_prefix: str | None = None) -> Checkpoint:
    """Read ``path``, locate its state dict and recognise its layout (see the module docstring)."""
    path = Path(path)
    obj = read_weights_file(path)
    top_keys = [str(k) for k in obj] if isinstance(obj, Mapping) and not _is_state_dict(obj) else []
    if weights_key is None and isinstance(obj, Mapping) and {"spec", "state_dict"} <= obj.keys():
        tensors = _tensors_of(obj["state_dict"], path, "state_dict")
        return Checkpoint(path, top_keys, "state_dict", tensors, Layout("ssl_kd", (), ""), dict(obj["spec"]))
    key, tensors = locate_state_dict(obj, path, weights_key)
    return Checkpoint(path, top_keys, key, tensors, detect_layout(list(tensors), key, strip_prefix))


@dataclass
class WeightsPlan:
    """How a checkpoint's tensors map onto a model; :meth:`problems` lists what prevents loading.

    Attributes:
        loaded: Model name -> tensor to load.
        sources: Model name -> the file's name of it.
        dropped: Reason -> the file's names dropped for it.
        reinitialised: Model names left as built (the classifier head), with the reason.
        missing: Model names (other than the classifier) the file does not provide.
        unmatched: ``(file name, mapped name)`` of file tensors that match nothing in the model.
        mismatched: ``(file name, model name, file shape, model shape)`` of backbone tensors of another shape.
        untracked: BatchNorm ``num_batches_tracked`` counters the file lacks (kept at 0; they do not change outputs).
    """

    checkpoint: Checkpoint
    arch: str
    loaded: dict[str, Tensor] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    reinitialised: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    mismatched: list[tuple[str, str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)

    def drop(self, reason: str, name: str) -> None:
        self.dropped.setdefault(reason, []).append(name)

    def problems(self) -> list[str]:
        """One phrase per kind of problem, naming the first keys on both sides; empty when the file fits."""
        found: list[str] = []
        if self.missing:
            found.append(f"{len(self.missing)} model tensor(s) not in the file: {_first(self.missing)}")
        if self.unmatched:
            shown = [f"{src} (as {dst})" if src != dst else src for src, dst in self.unmatched]
            found.append(f"{len(self.unmatched)} file tensor(s) match nothing in {self.arch}: {_first(shown)}")
        if self.mismatched:
            shown = [f"{src} {list(a)} vs {dst} {list(b)}" for src, dst, a, b in self.mismatched]
            found.append(f"{len(self.mismatched)} shape mismatch(es): {_first(shown)}")
        return found

    def summary(self) -> str:
        """One line: tensors loaded, what was dropped, what was reinitialised."""
        ckpt = self.checkpoint
        where = f", {ckpt.key}" if ckpt.key else ""
        parts = [f"weights {ckpt.path} ({ckpt.layout.name}{where}): loaded {len(self.loaded)} tensors into {self.arch}"]
        if self.dropped:
            dropped = ", ".join(f"{reason} {len(names)}" for reason, names in self.dropped.items())
            parts.append(f"dropped {sum(map(len, self.dropped.values()))} ({dropped})")
        if self.reinitialised:
            reasons = sorted(set(self.reinitialised.values()))
            parts.append(f"reinitialised {len(self.reinitialised)} ({'; '.join(reasons)})")
        if self.untracked:
            parts.append(f"{len(self.untracked)} BatchNorm counters absent (kept at 0)")
        return "; ".join(parts)


def _first(names: list[str]) -> str:
    more = f" ... (+{len(names) - SHOWN} more)" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _rename(name: str, prefixes: tuple[tuple[str, str], ...], targets: Mapping[str, Tensor]) -> str:
    if name in targets:
        return name
    for source, target in prefixes:
        if name.startswith(source):
            return target + name[len(source) :]
    return name


def plan_weights(checkpoint: Checkpoint, model: nn.Module) -> WeightsPlan:
    """Map ``checkpoint``'s tensors onto ``model`` (nothing is loaded; see :func:`load_weights`)."""
    arch = getattr(model, "arch", "") or type(model).__name__
    plan = WeightsPlan(checkpoint, arch)
    if checkpoint.spec is not None and checkpoint.spec.get("arch") != arch:
        plan.unmatched.append((f"model.pt of arch {checkpoint.spec.get('arch')!r}", f"arch {arch!r}"))
        return plan
    targets = model.state_dict()
    layout = checkpoint.layout
    prefixes = getattr(model, "source_prefixes", None) or SOURCE_PREFIXES.get(arch, ())
    has_classifier = any(name.startswith(CLASSIFIER) for name in targets)
    for source, tensor in checkpoint.tensors.items():
        reason = next((what for prefix, what in layout.drop if source.startswith(prefix)), None)
        if reason is None and not source.startswith(layout.strip):
            reason = f"outside {layout.strip!r}"
        if reason is not None:
            plan.drop(reason, source)
            continue
        name = _rename(source[len(layout.strip) :], prefixes, targets)
        if name.startswith(CLASSIFIER) and not has_classifier:
            plan.drop("classifier head (headless model)", source)
        elif name not in targets:
            plan.unmatched.append((source, name))
        elif tuple(tensor.shape) != tuple(targets[name].shape):
            if name.startswith(CLASSIFIER):
                plan.drop(f"classifier head of {tensor.shape[0]} classes", source)
                plan.reinitialised[name] = f"classifier head of {targets[name].shape[0]} classes, new"
            else:
                plan.mismatched.append((source, name, tuple(tensor.shape), tuple(targets[name].shape)))
        else:
            plan.loaded[name] = tensor
            plan.sources[name] = source
    mismatched = {name for _, name, _, _ in plan.mismatched}
    for name in targets:
        if name in plan.loaded or name in plan.reinitialised or name in mismatched:
            continue
        if name.startswith(CLASSIFIER):
            plan.reinitialised[name] = "classifier head not in the file, new"
        elif name.endswith(NUM_BATCHES_TRACKED):
            plan.untracked.append(name)
        else:
            plan.missing.append(name)
    return plan


def load_weights(
    model: nn.Module, path: Path, weights_key: str | None = None, strip_prefix: str | None = None
) -> WeightsPlan:
    """Load the weights of ``path`` into ``model`` (in place) and return the plan; its ``summary()`` is the log line.

    Raises:
        DataError: The file cannot be read safely, its layout is unknown, or it does not fit ``model`` (the
            message names the first keys on both sides and how to look closer: ``ssl-kd inspect``).
    """
    plan = plan_weights(read_checkpoint(path, weights_key, strip_prefix), model)
    problems = plan.problems()
    if problems:
        raise DataError(
            f"{path} ({plan.checkpoint.layout.name} layout) does not fit {plan.arch}: {'; '.join(problems)}; "
            f"check the arch, or set weights_key / strip_prefix (see `ssl-kd inspect {path} --arch {plan.arch}`)"
        )
    _load_tensors(model, plan.loaded)
    return plan


def _load_tensors(model: nn.Module, tensors: Mapping[str, Tensor], state: dict[str, Tensor] | None = None) -> None:
    """Load ``tensors`` (model names, checked to fit) into ``model``, each cast to its tensor's dtype; the rest of
    ``state`` (default: the model's own state dict) is kept as it is."""
    state = model.state_dict() if state is None else state
    state.update({name: tensor.to(state[name].dtype) for name, tensor in tensors.items()})
    model.load_state_dict(state)


HEAD_PREFIXES = (CLASSIFIER, "pool.")
"""A backbone's tensors that are not copied into another model's backbone when it has none of its own there."""


def backbone_body(model: nn.Module) -> nn.Module:
    """The part of ``model`` that pretrained backbone weights go into: ``model.backbone_body()`` where the model
    defines it (a detector: its backbone without the FPN and head), else the model itself."""
    body = getattr(model, "backbone_body", None)
    return body() if callable(body) else model


def copy_backbone(source: nn.Module, target: nn.Module, source_name: str) -> str:
    """Copy ``source``'s backbone tensors into ``target``'s backbone (:func:`backbone_body` of each), in place.

    Every tensor of the target's backbone but its classifier must come from the source with its name and shape; the
    source's classifier (and a pool the target has no tensors in) is left out. Returns the log line.

    Raises:
        DataError: the two backbones are of another arch or options, or a tensor is missing or of another shape.
    """
    source_body, target_body = backbone_body(source), backbone_body(target)
    described = [(getattr(m, "arch", type(m).__name__), getattr(m, "options", {})) for m in (source_body, target_body)]
    if described[0] != described[1]:
        raise DataError(
            f"stage {source_name!r} made a {described[0][0]} backbone with options {described[0][1]}; this model's "
            f"backbone is a {described[1][0]} with options {described[1][1]}: give the same arch and options"
        )
    state = target_body.state_dict()
    targets = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER)}
    tensors: dict[str, Tensor] = {}
    left_out = 0
    for name, tensor in source_body.state_dict().items():
        if name.startswith(HEAD_PREFIXES) and name not in targets:
            left_out += 1
        else:
            tensors[name] = tensor
    missing = [name for name in targets if name not in tensors]
    unmatched = [name for name in tensors if name not in targets]
    mismatched = [
        f"{name} {list(tensor.shape)} vs {list(targets[name].shape)}"
        for name, tensor in tensors.items()
        if name in targets and tensor.shape != targets[name].shape
    ]
    problems = [
        f"{len(found)} {what}: {_first(found)}"
        for found, what in (
            (missing, "backbone tensor(s) the stage's model lacks"),
            (unmatched, "tensor(s) of the stage's backbone this model lacks"),
            (mismatched, "shape mismatch(es)"),
        )
        if found
    ]
    if problems:
        raise DataError(f"the backbone of stage {source_name!r} does not fit this model: {'; '.join(problems)}")
    _load_tensors(target_body, tensors, state)
    arch = getattr(target, "arch", type(target).__name__)
    return (
        f"backbone of stage {source_name!r} ({described[0][0]}): copied {len(tensors)} tensors into {arch}'s "
        f"backbone; {left_out} head tensor(s) left out"
    )

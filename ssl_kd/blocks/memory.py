"""Memory queues, momentum (EMA) encoders and projection heads shared by the self-supervised methods."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_kd.engine.distributed import all_gather_cat
from ssl_kd.models import BackboneModel


class KeyQueue(nn.Module):
    """FIFO queues of L2-normalised keys sharing one write pointer (MoCo semantics).

    ``enqueue`` writes a batch at the pointer (wrapping around) and advances it by the batch size; callers enqueue
    after the loss that used the old contents. Under torchrun the keys of every rank are gathered (in rank order)
    before they are written, so all ranks hold the same queue, as in facebookresearch/moco's
    ``concat_all_gather``. Several named banks (e.g. student and teacher keys of the same
    images, ReKD's Q_S and Q_T) stay aligned because they share the pointer. All state lives in buffers, so it is
    checkpointed and moved with the method. Initialised with random unit vectors as in facebookresearch/moco.

    Args:
        size: number of slots K.
        dims: bank name -> key width.
    """

    def __init__(self, size: int, dims: dict[str, int]) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be positive, got {size}")
        self.size = size
        self.names = tuple(dims)
        for name, dim in dims.items():
            self.register_buffer(f"bank_{name}", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    def bank(self, name: str) -> Tensor:
        """The (K, D) keys of bank ``name``."""
        return getattr(self, f"bank_{name}")

    @torch.no_grad()
    def enqueue(self, **keys: Tensor) -> None:
        """Write one batch (of every rank) into every bank (keys must be given for all banks); advance the pointer."""
        if set(keys) != set(self.names):
            raise ValueError(f"enqueue needs keys for {self.names}, got {tuple(keys)}")
        keys = {name: all_gather_cat(value.detach()) for name, value in keys.items()}
        batch = len(next(iter(keys.values())))
        slots = (self.pointer + torch.arange(batch, device=self.pointer.device)) % self.size
        for name, value in keys.items():
            # Out of place: the loss of this step still holds the old bank for its backward pass.
            bank = self.bank(name)
            setattr(self, f"bank_{name}", bank.index_copy(0, slots, value.detach().to(bank.dtype)))
        self.pointer.copy_((self.pointer + batch) % self.size)


@torch.no_grad()
def momentum_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """theta_target <- m * theta_target + (1 - m) * theta_online, for every parameter (MoCo's key encoder)."""
    target_params = list(target.parameters())
    online_params = [p.detach() for p in online.parameters()]
    torch._foreach_lerp_(target_params, online_params, 1.0 - momentum)


class ProjectedEncoder(nn.Module):
    """A backbone followed by the MoCo v2 MLP head: ``norm(Linear(d, h) -> ReLU -> Linear(h, dim))``."""

    def __init__(self, backbone: BackboneModel, dim: int = 128, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden = hidden_dim or backbone.feature_dim
        self.backbone = backbone
        self.head = nn.Sequential(
            nn.Linear(backbone.feature_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim)
        )

    def forward(self, images: Tensor) -> Tensor:
        return F.normalize(self.head(self.backbone.forward_features(images)), dim=1)


def momentum_copy(encoder: nn.Module) -> nn.Module:
    """A gradient-free copy of ``encoder`` to be updated by :func:`momentum_update`."""
    target = copy.deepcopy(encoder)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def shuffled_keys(encoder: nn.Module, images: Tensor, splits: int) -> Tensor:
    """Keys computed in ``splits`` shuffled sub-batches, returned in the original order.

    A single-process stand-in for MoCo's shuffle BN (docs/methods/moco_v2.md, [reconstruction]): the key
    encoder's BatchNorm statistics then come from other images than the queries', so the contrastive task cannot
    be solved through batch statistics. ``splits=1`` is the plain forward pass. Under torchrun each rank shuffles
    its own batch (no cross-rank shuffle).
    """
    if splits == 1:
        return encoder(images)
    order = torch.randperm(len(images), device=images.device)
    keys = torch.cat([encoder(chunk) for chunk in images[order].chunk(splits)])
    return keys[torch.argsort(order)]

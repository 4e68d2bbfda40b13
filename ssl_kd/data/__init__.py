"""Datasets (embedded digits, ImageFolder trees, CIFAR pickles, videos), transforms and resumable loaders."""

from ssl_kd.data import cifar, digits, domain, folder, video  # noqa: F401  (registration)
from ssl_kd.data.base import ImageSplits
from ssl_kd.data.loaders import eval_loader, load_splits, train_loader
from ssl_kd.data.transforms import eval_transform, train_transform

__all__ = ["ImageSplits", "eval_loader", "eval_transform", "load_splits", "train_loader", "train_transform"]

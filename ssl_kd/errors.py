"""Errors that the command line reports as one clear line instead of a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SslKdError(Exception):
    """Base class for user-facing errors (bad config, missing path, diverged training)."""


class ConfigError(SslKdError):
    """A pipeline file or override is invalid."""


class DataError(SslKdError):
    """A dataset path or layout is missing or unusable."""


class TrainingDiverged(SslKdError):
    """A loss became NaN or infinite; the stage stopped and kept its last good checkpoint."""


def nearest(name: str, choices: Iterable[str]) -> str | None:
    """Return the closest valid name to ``name`` (difflib ratio >= 0.5), or None."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix, or an empty string when nothing is close."""
    match = nearest(name, choices)
    return f" (did you mean {match!r}?)" if match else ""

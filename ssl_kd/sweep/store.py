"""A content-addressed store of stage outputs: ``STORE/<fingerprint>/`` is a stage folder, shared by every run whose
stage has that fingerprint. A run refers to it by a relative symlink ``RUN/<stage> -> .../STORE/<fingerprint>``.

``STORE/<fingerprint>.lock`` is held (``fcntl.flock``, exclusive) while a process decides, runs or skips that stage,
so concurrent runs never compute it twice: the second one waits, then finds it complete. The kernel releases the
lock when its holder dies (SIGKILL included), and the next run resumes the stage from its checkpoint.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREVIOUS_SUFFIX = ".previous"


def stage_path(store: Path, fingerprint: str) -> Path:
    """The store folder of the stage with ``fingerprint``."""
    return Path(store) / fingerprint


@contextmanager
def stage_lock(store: Path, fingerprint: str, name: str, log: logging.Logger) -> Iterator[None]:
    """Hold the exclusive lock of ``fingerprint`` (logging once when another process holds it)."""
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(store / f"{fingerprint}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("stage %s: waiting for another run computing it (%s)", name, store / fingerprint)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


def link_stage(run_dir: Path, name: str, target: Path) -> None:
    """Make ``run_dir/name`` a relative symlink to ``target``; a real folder there is kept as ``name.previous``."""
    link = Path(run_dir) / name
    link.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(Path(target).resolve(), link.parent.resolve())
    if link.is_symlink():
        if os.readlink(link) == relative:
            return
    elif link.exists():
        previous = link.with_name(name + PREVIOUS_SUFFIX)
        if previous.is_symlink():
            previous.unlink()
        shutil.rmtree(previous, ignore_errors=True)
        link.rename(previous)
    temporary = link.with_name(f".{name}.link")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(relative, target_is_directory=True)
    os.replace(temporary, link)

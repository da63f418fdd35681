"""Making writes durable: fsync a file, a folder, and put a finished file in place.

A rename is only durable once its folder is fsynced too, and a file's bytes only once the
file is; every writer of the data directory (WAL, budgets reference, alert outbox snapshot,
the published warehouse) goes through these.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make the names in a folder (files created, renamed or deleted) survive a crash."""
    fsync_file(path)


def fsync_and_rename(tmp: Path, dest: Path) -> None:
    """Put a fully written temporary file in place: fsync it, rename it over `dest`, fsync the
    folder. `tmp` must sit in dest's folder under a name no reader's glob matches."""
    fsync_file(tmp)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)

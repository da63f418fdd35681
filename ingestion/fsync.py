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


def write_parquet_atomic(table, dest: Path) -> None:
    """Write an Arrow table as zstd Parquet at `dest`, in place only once complete (a
    '.'-named temporary beside it, fsynced and renamed); nothing is left behind on failure."""
    import pyarrow.parquet as pq

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd")
        fsync_and_rename(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

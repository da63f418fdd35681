"""Loading write-ahead segments a dead HTTP loader left behind (`ingestion/wal.py`).

A running `agentops-wh serve` owns `$AGENTOPS_DATA_DIR/wal/` (an exclusive `flock` on
`wal/.lock`) and flushes its segments into the lake itself, so this does nothing while a server
holds the lock. When none does, the server that wrote the segments is gone: they are loaded
with the file loader and deleted, as the server's own flusher would. A torn last line is an
append the server never acknowledged: the loader holds it back (`final=False`) and such a
segment is kept for the next server, whose start-up cuts the tail off; its loaded prefix is
then a no-op, by the loader's content-hash manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.loader import LoadError, load_paths


@dataclass
class WalFlush:
    """What a flush did."""

    segments: int = 0  # segments found
    loaded: int = 0  # segments loaded and deleted
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    server_running: bool = False
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.server_running:
            return f"WAL: {self.segments} segment(s) owned by a running HTTP loader; left to it"
        text = f"WAL: {self.accepted} event(s) from {self.loaded} leftover segment(s)"
        return text + (f"; errors: {'; '.join(self.errors)}" if self.errors else "")


def leftover_segments(wal_dir: Path) -> list[Path]:
    """Segment files (`<UTC time>-<pid>-<seq>.jsonl`), oldest first."""
    if not wal_dir.is_dir():
        return []
    return [p for p in sorted(wal_dir.glob("*.jsonl")) if not p.name.startswith(".")]


@contextlib.contextmanager
def _unowned(wal_dir: Path) -> Iterator[bool]:
    """Yields True while holding the WAL lock no server holds; False if a server holds it."""
    with open(wal_dir / ".lock", "ab") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def flush_wal(base: Path) -> WalFlush:
    """Load and delete the segments of a WAL no running server owns (idempotent)."""
    wal_dir = base / "wal"
    segments = leftover_segments(wal_dir)
    result = WalFlush(segments=len(segments))
    if not segments:
        return result
    with _unowned(wal_dir) as free:
        if not free:
            result.server_running = True
            return result
        try:
            summary = load_paths(segments, base, final=False)
        except LoadError as exc:
            result.errors.append(str(exc))
            return result
        result.accepted = summary.accepted
        result.quarantined = summary.quarantined
        result.duplicates = summary.duplicates
        for p in segments:
            if _ends_with_newline(p):  # wholly in the lake now
                p.unlink()
                result.loaded += 1
        fd = os.open(wal_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return result

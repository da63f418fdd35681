"""The HTTP loader's write-ahead log and the flusher that turns it into Parquet.

A `202` from the loader means the batch is on disk: `WriteAheadLog.append` writes the
validated, redacted events as JSONL lines to the current segment under
`$AGENTOPS_DATA_DIR/wal/` and fsyncs before returning. Segments rotate at a size or age
limit; the `Flusher` loads closed segments with the file loader (`load_paths(final=True)`,
so the one validation core and the lake's all-or-nothing commits apply) and then deletes
them. The loader's manifest is keyed by content hash, so a crash between the load and the
delete makes the next flush of that segment a no-op; a crash mid-append leaves at most an
unacknowledged torn last line, which `open()` cuts off before anything reads the segment.

Segment files are named `<UTC time>-<pid>-<seq>.jsonl` (creation order = name order) and
only finished lines ever reach them, so `flush_wal` can also load segments a stopped server
left behind (Dagster's `lake_events` asset calls it). One process owns a WAL directory at a
time (`flock` on `wal/.lock`).

The flusher runs `load_paths` in a child process: validation and Parquet encoding there do
not compete with request handling for the server's GIL.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ingestion.fsync import fsync_dir
from ingestion.logs import ids
from ingestion.validation.contract import ValidationConfig

log = logging.getLogger("agentops.wal")

DEFAULT_SEGMENT_BYTES = 32 << 20
DEFAULT_FLUSH_INTERVAL = 2.0
MAX_FLUSH_BYTES = 256 << 20  # segments loaded together in one load (one commit)


class WalInUse(Exception):
    """Another server process owns this WAL directory."""


def _take_ownership(wal_dir: Path) -> BinaryIO | None:
    """The lock file of `wal_dir`, locked for this process; None while another process (a
    running server) owns the directory. Closing the file gives ownership back."""
    fh = open(wal_dir / ".lock", "ab")  # noqa: SIM115 - the caller holds it as long as it owns
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def segments(wal_dir: Path) -> list[Path]:
    """Segment files (`<UTC time>-<pid>-<seq>.jsonl`), oldest first."""
    if not wal_dir.is_dir():
        return []
    return [p for p in sorted(wal_dir.glob("*.jsonl")) if not p.name.startswith(".")]


def segment_event_ids(path: Path) -> list[tuple[str, str, str]]:
    """(tenant_id, event_id, occurred_at) of every line of a segment (to seed deduplication)."""
    out: list[tuple[str, str, str]] = []
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                ev = orjson.loads(line)
                out.append((ev["tenant"]["tenant_id"], ev["event_id"], ev["occurred_at"]))
    return out


class WriteAheadLog:
    """Append-only JSONL segments with fsync before acknowledgement."""

    def __init__(
        self,
        wal_dir: Path,
        segment_max_bytes: int = DEFAULT_SEGMENT_BYTES,
        segment_max_age: float = DEFAULT_FLUSH_INTERVAL,
    ):
        self.dir = Path(wal_dir)
        self.segment_max_bytes = segment_max_bytes
        self.segment_max_age = segment_max_age
        self._lock = threading.Lock()
        self._lock_fh: BinaryIO | None = None
        self._fh: BinaryIO | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened_at = 0.0
        self._seq = 0
        self._closed: dict[Path, int] = {}  # rotated segments awaiting flush -> bytes
        self._free_cache = (0.0, 0)

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> list[Path]:
        """Take ownership of the directory; returns segments a previous server left behind."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = _take_ownership(self.dir)  # held for the server's lifetime
        if fh is None:
            raise WalInUse(
                f"another `agentops-wh serve` is using {self.dir}; stop it, or give this one "
                "its own AGENTOPS_DATA_DIR"
            )
        self._lock_fh = fh
        leftovers: list[Path] = []
        for p in segments(self.dir):
            size = _cut_torn_tail(p)
            if size == 0:
                p.unlink()
                continue
            leftovers.append(p)
            self._closed[p] = size
        return leftovers

    def close(self) -> None:
        with self._lock:
            self._rotate_locked()
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    # -- writing -----------------------------------------------------------------------------

    def append(self, data: bytes) -> str:
        """Write whole lines and fsync them; on error nothing of `data` stays in the log.
        Returns the name of the segment that holds them (for the logs)."""
        with self._lock:
            if self._fh is None:
                self._new_segment()
            assert self._fh is not None and self._path is not None
            segment = self._path.name
            before = self._size
            try:
                self._fh.write(data)
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError:
                self._discard_tail(before)
                raise
            self._size += len(data)
            if self._size >= self.segment_max_bytes:
                self._rotate_locked()
            return segment

    def _new_segment(self) -> None:
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.dir / f"{stamp}-{os.getpid()}-{self._seq:06d}.jsonl"
        self._fh = open(path, "xb")  # noqa: SIM115 - closed at rotation
        fsync_dir(self.dir)  # the segment's name must survive a crash, not only its bytes
        self._path, self._size, self._opened_at = path, 0, time.monotonic()

    def _discard_tail(self, size: int) -> None:
        """Cut a failed append back off, then retire the segment (its handle may be broken)."""
        assert self._fh is not None and self._path is not None
        try:
            self._fh.truncate(size)
        except (OSError, ValueError):
            log.error("could not cut a failed append out of %s", self._path.name)
        with contextlib.suppress(OSError):
            self._fh.close()
        if size:
            self._closed[self._path] = size
        else:
            self._path.unlink(missing_ok=True)
        self._fh, self._path, self._size = None, None, 0

    def _rotate_locked(self) -> Path | None:
        if self._fh is None or self._path is None:
            return None
        path, size = self._path, self._size
        self._fh.close()
        self._fh, self._path, self._size = None, None, 0
        if size == 0:
            path.unlink(missing_ok=True)
            return None
        self._closed[path] = size
        return path

    def rotate_if_due(self, force: bool = False) -> None:
        """Close the current segment if it is old enough (or `force`), making it flushable."""
        with self._lock:
            if self._fh is not None and (
                force or time.monotonic() - self._opened_at >= self.segment_max_age
            ):
                self._rotate_locked()

    # -- flushing ----------------------------------------------------------------------------

    def closed_segments(self) -> list[Path]:
        with self._lock:
            return sorted(self._closed)

    def retire(self, path: Path) -> None:
        """A segment is in the lake: delete it."""
        with self._lock:
            self._closed.pop(path, None)
        path.unlink(missing_ok=True)

    def sync_dir(self) -> None:
        fsync_dir(self.dir)

    # -- state -------------------------------------------------------------------------------

    @property
    def backlog_bytes(self) -> int:
        with self._lock:
            return self._size + sum(self._closed.values())

    @property
    def backlog_segments(self) -> int:
        with self._lock:
            return len(self._closed) + (1 if self._fh is not None else 0)

    def free_bytes(self) -> int:
        """Free space where the WAL lives (cached for a second: a statvfs per request is waste)."""
        at, free = self._free_cache
        now = time.monotonic()
        if now - at > 1.0:
            free = shutil.disk_usage(self.dir).free
            self._free_cache = (now, free)
        return free


def _cut_torn_tail(path: Path) -> int:
    """Drop a last line without its newline (an append the server never acknowledged)."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            fh.truncate(keep)
            os.fsync(fh.fileno())
            log.warning("%s: cut %d bytes of an unacknowledged write", path.name, len(data) - keep)
            return keep
        return len(data)


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group; the server decides when its child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _warm_up() -> None:
    import ingestion.files.loader  # noqa: F401


def _load_segments(paths: list[str], data_dir: str, config: ValidationConfig) -> dict[str, Any]:
    """Runs in the flusher's child process."""
    from ingestion.files.loader import load_paths
    from ingestion.validation.redaction import Redactor

    summary = load_paths(
        paths, Path(data_dir), final=True, config=config, redactor=Redactor.from_env(), workers=1
    )
    return summary.as_dict()


@dataclass
class FlushStats:
    flushes: int = 0
    failures: int = 0
    events: int = 0
    segments: int = 0
    last_flush_at: float | None = None  # unix time
    last_error: str | None = None
    consecutive_failures: int = 0
    summaries: list[dict[str, Any]] = field(default_factory=list)


class Flusher:
    """Background thread: rotates due segments and loads closed ones into the lake."""

    def __init__(
        self,
        wal: WriteAheadLog,
        data_dir: Path,
        config: ValidationConfig,
        interval: float = DEFAULT_FLUSH_INTERVAL,
        in_process: bool = False,
        on_error: Callable[[str], None] | None = None,
    ):
        self.wal = wal
        self.data_dir = Path(data_dir)
        self.config = config
        self.interval = interval
        self.in_process = in_process
        self.on_error = on_error
        self.stats = FlushStats()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._busy = threading.Lock()

    def prestart(self) -> None:
        """Start the loading child now. Called while the process has a single thread, it
        forks (milliseconds, modules already imported) instead of spawning (seconds)."""
        if self.in_process or self._pool is not None:
            return
        import ingestion.files.loader  # noqa: F401 - imported once here, inherited by a forked child

        single = threading.active_count() == 1
        fork = single and "fork" in multiprocessing.get_all_start_methods()
        self._pool_start("fork" if fork else "spawn").submit(_warm_up).result()

    def start(self) -> None:
        if not self.in_process:
            self._pool_start().submit(_warm_up)  # the child's imports take a while: start now
        self._thread = threading.Thread(target=self._run, name="wal-flusher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the thread, then flush everything still in the log (a clean shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.wal.rotate_if_due(force=True)
        try:
            self.flush_closed()
        except BrokenProcessPool:  # the child is gone (Ctrl-C reached it): load here instead
            self.in_process = True
            self._final_flush_in_process()
        except Exception as exc:  # noqa: BLE001 - the WAL keeps the events for the next start
            log.error("final flush failed (%s); the WAL keeps the events for the next start", exc)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _final_flush_in_process(self) -> None:
        try:
            self.flush_closed()
        except Exception as exc:  # noqa: BLE001 - the WAL keeps the events for the next start
            log.error("final flush failed (%s); the WAL keeps the events for the next start", exc)

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            self._wake.wait(max(self.interval / 2, 0.05) + backoff)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.wal.rotate_if_due()
            try:
                self.flush_closed()
                backoff = 0.0
            except Exception as exc:  # noqa: BLE001 - keep the segments, retry later
                backoff = min(60.0, max(1.0, backoff * 2))
                message = f"flush failed, retrying in {backoff:.0f}s: {exc}"
                log.error("%s", message)
                if self.on_error is not None:
                    self.on_error(message)

    def flush_closed(self) -> int:
        """Load every closed segment now; returns the number of events loaded."""
        with self._busy:
            loaded = 0
            while True:
                segments = self.wal.closed_segments()
                if not segments:
                    return loaded
                batch, size = [], 0
                for p in segments:
                    if batch and size + p.stat().st_size > MAX_FLUSH_BYTES:
                        break
                    batch.append(p)
                    size += p.stat().st_size
                loaded += self._flush(batch)

    def _flush(self, segments: list[Path]) -> int:
        paths = [str(p) for p in segments]
        try:
            if self.in_process:
                summary = _load_segments(paths, str(self.data_dir), self.config)
            else:
                summary = self._pool_submit(paths)
        except Exception as exc:
            self.stats.failures += 1
            self.stats.consecutive_failures += 1
            self.stats.last_error = str(exc)
            raise
        # Which events went into which load: the line that follows an event into the lake.
        loaded_ids = []
        if log.isEnabledFor(logging.INFO):
            loaded_ids = [f"{t}/{e}" for p in segments for t, e, _ in segment_event_ids(p)]
        for p in segments:
            self.wal.retire(p)
        self.wal.sync_dir()
        st = self.stats
        st.flushes += 1
        st.segments += len(segments)
        st.events += summary["accepted"]
        st.last_flush_at = time.time()
        st.last_error = None
        st.consecutive_failures = 0
        st.summaries = [*st.summaries[-9:], summary]
        log.info(
            "flushed %d segment(s): %d events into the lake in %.2fs (load %s)",
            len(segments),
            summary["accepted"],
            summary["seconds"],
            summary["load_id"],
            extra={
                "load_id": summary["load_id"],
                "wal_segments": [p.name for p in segments],
                **ids(loaded_ids),
            },
        )
        return int(summary["accepted"])

    def _pool_start(self, method: str = "spawn") -> ProcessPoolExecutor:
        if self._pool is None:
            # Only `prestart` forks: once the server runs threads, a forked copy of their locks
            # could deadlock the child, so any later (replacement) child is spawned.
            ctx = multiprocessing.get_context(method)
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=ctx, initializer=_ignore_interrupts
            )
        return self._pool

    def _pool_submit(self, paths: list[str]) -> dict[str, Any]:
        pool = self._pool_start()
        try:
            return pool.submit(_load_segments, paths, str(self.data_dir), self.config).result()
        except BrokenProcessPool:
            self._pool = None  # the child died (killed, out of memory): a new one next time
            raise


# --- leftovers of a stopped server ----------------------------------------------------------


@dataclass
class WalFlush:
    """What `flush_wal` did."""

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


def _writer_alive(segment: Path) -> bool:
    """Whether the process that wrote `segment` (`<time>-<pid>-<seq>.jsonl`) still runs."""
    parts = segment.stem.split("-")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def orphaned_segments(wal_dir: Path) -> list[Path]:
    """Segments whose server is gone: what `flush_wal` would load. Tells by the process id in
    the name, without touching the lock a starting server is about to take."""
    return [p for p in segments(wal_dir) if not _writer_alive(p)]


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def flush_wal(data_dir: Path) -> WalFlush:
    """Load and delete the segments of a WAL no running server owns (idempotent).

    While a server owns the directory this does nothing: the server flushes its own segments.
    A torn last line is an append no server acknowledged; it is held back (`final=False`) and
    its segment kept, for the next server start to cut (`WriteAheadLog.open`); the loaded
    prefix is then a no-op, by the loader's content-hash manifest.
    """
    from ingestion.files.loader import LoadError, load_paths

    wal_dir = Path(data_dir) / "wal"
    found = segments(wal_dir)
    result = WalFlush(segments=len(found))
    if not found:
        return result
    owner = _take_ownership(wal_dir)
    if owner is None:
        result.server_running = True
        return result
    with owner:
        try:
            summary = load_paths(found, Path(data_dir), final=False)
        except LoadError as exc:
            result.errors.append(str(exc))
            return result
        result.accepted = summary.accepted
        result.quarantined = summary.quarantined
        result.duplicates = summary.duplicates
        for p in found:
            if _ends_with_newline(p):  # wholly in the lake now
                p.unlink()
                result.loaded += 1
        fsync_dir(wal_dir)
    return result

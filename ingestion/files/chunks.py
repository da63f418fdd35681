"""Validating and writing chunks of lines: the loader's hot loop and the processes that run it.

A chunk is a block of whole lines (`ChunkJob`). `process_chunk` validates every line (a fast
path for valid events in any JSON form, `check_line` for the rest), redacts, and appends the
valid events to this process's open file per event date (`DayFiles`). `Pipeline` runs chunks
inline or on worker processes and asks each worker to finish its files at the end of a load.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import sys
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson
import pyarrow as pa

from ingestion.files.reading import split_lines
from ingestion.lake.store import DayFiles, EventColumns, Lake, event_date_of_us, writer_connection
from ingestion.validation.contract import (
    ONE_US,
    Rejection,
    ValidationConfig,
    check_line,
    fast_stamps,
    fast_validator,
    same_as_sent,
    stamps_of,
    to_us,
)
from ingestion.validation.redaction import Redactor

_DAY_US = 86_400_000_000


class LoadError(Exception):
    """A load that could not complete (missing path, unreadable file, full disk)."""


@dataclass
class ChunkResult:
    accepted: int = 0
    blank: int = 0
    rejected: list[tuple[int, bytes, Rejection]] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to validate and write one chunk of lines on its own."""

    data_dir: str
    load_id: str
    seq: int
    source: str
    first_line_no: int
    blob: bytes | None  # the chunk's lines, or None: read `length` bytes at `offset` of `path`
    now: datetime
    loaded_at_us: int
    config: ValidationConfig
    redactor: Redactor
    path: str = ""
    offset: int = 0
    length: int = 0
    n_lines: int = 0  # lines the main process counted in the range, checked by the worker

    def read_lines(self) -> tuple[bytes, list[bytes]]:
        """The chunk's bytes and its lines; a worker reads a range itself (no pipe copy)."""
        blob = self.blob
        if blob is None:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                blob = fh.read(self.length)
        newlines = blob.count(b"\n")
        if self.blob is None and (len(blob) != self.length or newlines != self.n_lines):
            raise LoadError(
                f"{self.path} changed while it was being loaded (bytes {self.offset}.."
                f"{self.offset + self.length} differ); load it again once it is complete"
            )
        return blob, newlines


def process_chunk(job: ChunkJob) -> ChunkResult:
    """Validate one chunk of complete lines and write its valid events, one file per date."""
    was_enabled = gc.isenabled()
    gc.disable()  # the chunk allocates many short-lived dicts and no cycles; GC only slows it
    try:
        return _process_chunk_inner(job)
    finally:
        if was_enabled:
            gc.enable()


def _process_chunk_inner(job: ChunkJob) -> ChunkResult:
    """The loader's hot loop: most lines take the fast path, the rest `check_line`.

    The fast path is `check_line` unrolled for a valid event in any JSON form (orjson's compact
    text, Python's `json.dumps` spacing, any key order, `\\uXXXX` escapes). Any line it is not
    sure about goes through `check_line`, which gives the verdict and the reasons; tests hold
    the two to the same verdicts and stored bytes.
    """
    res = ChunkResult()
    by_day: dict[int, EventColumns] = {}
    redactor, config, now = job.redactor, job.config, job.now
    blob, newlines = job.read_lines()
    lines, numbers, res.blank = split_lines(blob, newlines)
    suspects = redactor.candidate_lines(blob, lines)
    suspected: list[tuple[EventColumns, int, dict[str, Any], bytes]] = []
    loads, dumps, is_valid = orjson.loads, orjson.dumps, fast_validator().is_valid
    now_us, skew_us, min_us, max_bytes = (
        to_us(now),
        config.max_future_skew // ONE_US,
        config.min_occurred_us,
        config.max_event_bytes,
    )
    first = job.first_line_no
    for i, raw in enumerate(lines):
        line_no = first + (i if numbers is None else numbers[i])
        if raw[-1:] == b"\r":
            raw = raw[:-1]
        stamps = None
        if len(raw) <= max_bytes:
            try:
                event = loads(raw)
            except orjson.JSONDecodeError:
                event = None
            if type(event) is dict and is_valid(event):
                stamps = fast_stamps(event, now_us, skew_us, min_us)
                # Any JSON form of the event loads here (spacing, key order, escapes): what
                # orjson writes back byte for byte is the common case; other text is checked
                # for repeated keys and money digits, still without the full check.
                if stamps is not None:
                    compact = dumps(event)
                    if compact != raw and not same_as_sent(raw, event, compact):
                        stamps = None
        if stamps is None:  # the full check decides, and says why
            if not raw.strip():
                res.blank += 1
                continue
            result = check_line(raw, now, config)
            if type(result) is Rejection:
                res.rejected.append((line_no, raw, result))
                continue
            event, raw = result.event, result.raw
            stamps = stamps_of(result.timestamps_us)
            compact = dumps(event)
        day = stamps[0] // _DAY_US
        cols = by_day.get(day)
        if cols is None:
            cols = by_day[day] = EventColumns()
        if i in suspects:
            suspected.append((cols, len(cols.raws), event, compact))
        cols.add(raw, stamps, event, line_no)
    _redact_suspects(suspected, redactor)
    del blob, lines  # the chunk's text is not needed any more: lower the peak while writing
    by_date = [(event_date_of_us(day * _DAY_US), cols) for day, cols in sorted(by_day.items())]
    if by_date:
        _day_files(job.data_dir, job.load_id).append(by_date, job.loaded_at_us, job.source)
    res.dates = {date for date, _ in by_date}
    res.accepted = sum(len(cols.raws) for _, cols in by_date)
    return res


# This process's open files of each load in progress (see `DayFiles`), and its writer tag.
_DAY_FILES: dict[str, DayFiles] = {}
_WRITER = "w0"


def _day_files(data_dir: str, load_id: str) -> DayFiles:
    files = _DAY_FILES.get(load_id)
    if files is None:
        files = _DAY_FILES[load_id] = DayFiles(Lake(data_dir), load_id, _WRITER)
    return files


def finish_load(load_id: str) -> list[str]:
    """Close this process's files of a load; returns their pending paths."""
    files = _DAY_FILES.pop(load_id, None)
    return files.close() if files is not None else []


def discard_load(load_id: str) -> None:
    """Drop this process's open files of a failed load (the lake's `recover` removes them)."""
    files = _DAY_FILES.pop(load_id, None)
    if files is not None:
        files.discard()


def _redact_suspects(
    suspected: list[tuple[EventColumns, int, dict[str, Any], bytes]], redactor: Redactor
) -> None:
    """Redact the events whose bytes held a trigger or a `\\u` escape, in place.

    Each is looked at decoded (as orjson wrote it) in one vectorised pass: only those whose
    decoded text holds a trigger go through the field-by-field pass.
    """
    if not suspected:
        return
    hits = redactor.candidates([compact for *_, compact in suspected], decoded=True)
    for (cols, pos, event, _), hit in zip(suspected, hits, strict=True):
        if hit:
            redacted = redactor.redact_event(event)
            if redacted is not event:
                cols.replace(pos, orjson.dumps(redacted), redacted)


class _NoPandas:
    """An import hook that refuses `pandas`, installed only while `skip_pandas` runs."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ImportError("pandas is not used by the loader")


def skip_pandas() -> None:
    """Spare a loading process pyarrow's import of pandas (0.15-0.5 s a process).

    pyarrow's first conversion of a Python list imports pandas only to ask whether the list is
    a pandas object. Refused once, pyarrow remembers there is no pandas (its `to_pandas` then
    fails in this process); the hook is removed at once. Only for processes that do nothing
    but load: the workers, and `agentops-wh load`.
    """
    if "pandas" in sys.modules:
        return
    hook = _NoPandas()
    sys.meta_path.insert(0, hook)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(hook)


def _init_worker() -> None:
    """Warm up a forked worker before its first chunk."""
    writer_connection()  # and open the worker's DuckDB connection (~15 ms) before the first chunk
    with contextlib.suppress(Exception):  # jemalloc only: hand freed memory back at once
        pa.jemalloc_set_decay_ms(0)
    skip_pandas()


class Pipeline:
    """Runs chunk jobs inline or on worker processes, keeping results in submission order.

    Each worker appends its chunks to its own open file per event date for the whole load
    (`DayFiles`), so a load writes one file per (worker, day); `finish` closes them. A
    worker is a plain process fed through its own pipe (a pool hands jobs to any worker and
    cannot ask each one to finish its files).
    """

    def __init__(self, workers: int, start_method: str = "forkserver"):
        self.workers = workers
        self.start_method = start_method
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.busy: list[int] = []
        self.order: deque[int] = deque()  # the worker of each job in flight, oldest first

    def start(self) -> None:
        """Start the workers now, so they warm up while the parent goes on (no-op inline)."""
        if self.workers <= 1 or self.procs:
            return
        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "fork":
            fast_validator()  # compiled once here, inherited by every worker
            # Python's advice for fork without exec: frozen objects are never touched by the
            # children's collections, so their pages stay shared (low PSS).
            gc.freeze()
        else:
            ctx.set_forkserver_preload([__name__])
        for n in range(1, self.workers + 1):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, n), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
            self.busy.append(0)

    def submit(self, job: ChunkJob, on_result: Any) -> None:
        if self.workers <= 1:
            on_result(process_chunk(job))
            return
        self.start()
        w = min(range(self.workers), key=self.busy.__getitem__)
        self.conns[w].send(("chunk", job))
        self.busy[w] += 1
        self.order.append(w)
        while len(self.order) > self.workers:  # bounded memory: few chunks in flight
            on_result(self._receive(self.order.popleft()))

    def _receive(self, w: int) -> Any:
        try:
            kind, value = self.conns[w].recv()
        except (EOFError, OSError):
            self.procs[w].join(1)
            raise LoadError(
                f"loader worker {w + 1} stopped (exit code {self.procs[w].exitcode}); "
                "nothing of this load was kept, load again"
            ) from None
        self.busy[w] -= 1
        if kind == "error":
            raise value
        return value

    def drain(self, on_result: Any) -> None:
        while self.order:
            on_result(self._receive(self.order.popleft()))

    def finish(self, load_id: str) -> list[str]:
        """Close every worker's files of the load (after `drain`); returns their paths."""
        if self.workers <= 1 or not self.procs:
            return finish_load(load_id)
        for conn in self.conns:
            conn.send(("finish", load_id))
        self.busy = [b + 1 for b in self.busy]
        return [path for w in range(self.workers) for path in self._receive(w)]

    def close(self, abort: bool = False) -> None:
        """Stop the workers: at once when the load failed, else once they are idle."""
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
        for proc in self.procs:
            if abort:
                proc.kill()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        if self.procs and self.start_method == "fork":
            gc.unfreeze()
        self.conns, self.procs, self.busy = [], [], []
        self.order.clear()


def _worker_main(conn: Connection, n: int) -> None:
    """A worker's loop: validate and write chunks, finish a load's files, stop on None."""
    global _WRITER
    _WRITER = f"w{n}"
    _init_worker()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if msg is None:
            return
        kind, value = msg
        try:
            out = process_chunk(value) if kind == "chunk" else finish_load(value)
        except Exception as exc:  # the parent raises it; it must cross the pipe
            try:
                conn.send(("error", exc))
            except Exception:
                conn.send(("error", LoadError(f"{type(exc).__name__}: {exc}")))
            continue
        conn.send(("ok", out))

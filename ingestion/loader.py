"""The file loader: JSONL (and .jsonl.gz) in, validated Parquet lake and quarantine out.

`load_paths` streams each file in batches (memory stays bounded whatever the file size),
validates every line with the shared contract, writes valid events as zstd Parquet
partitioned by event date and every other line to the quarantine, with its reasons. A load
is all or nothing: its files become visible only when its commit record is written, so a
killed or failed load leaves nothing partial behind (the next writer removes its files).

A manifest keyed by content hash makes re-loading a file, or a renamed copy, a no-op; a file
that grew since its last load resumes where that load stopped.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import gc
import gzip
import hashlib
import multiprocessing
import os
import re
import secrets
import sys
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import orjson
import pyarrow as pa
import xxhash

from ingestion.contract import (
    DEFAULT_MIN_OCCURRED_AT,
    EVENT_TOO_LARGE,
    ONE_US,
    FieldError,
    Rejection,
    ValidationConfig,
    check_line,
    fast_stamps,
    fast_validator,
    same_as_sent,
    stamps_of,
    to_us,
)
from ingestion.keys import tenant_key_sql
from ingestion.lake import (
    DayFiles,
    EventColumns,
    Lake,
    disk_error,
    event_date_of_us,
    writer_connection,
)
from ingestion.redaction import DEFAULT_REDACTOR, Redactor, unescape_lossy
from ingestion.settings import data_dir as default_data_dir

FILE_HASH = "xxh3_128"  # the manifest's content hash of source files
CHUNK_BYTES = 8 << 20  # about 13k events of 600 bytes, validated and written as one job
DEFAULT_GRACE_SECONDS = 60.0
DEFAULT_MAX_FILE_BYTES = 16 << 30  # per file, decompressed: bounds the time one file takes
_DAY_US = 86_400_000_000


class LoadError(Exception):
    """A load that could not complete (missing path, unreadable file, full disk)."""


@dataclass
class LoadSummary:
    """What a load did. `accepted` counts lines written to the lake, duplicates included."""

    load_id: str
    files_seen: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    conflicting_duplicates: int = 0
    # Events that reuse, within their tenant, an id an earlier loaded event claimed: a
    # model_call_id (the later call is never priced) or a run's run.completed.
    conflicting_model_calls: int = 0
    conflicting_run_completions: int = 0
    blank_lines: int = 0
    incomplete_lines: int = 0
    refused: list[str] = field(default_factory=list)  # files left out, and why
    by_reason: dict[str, int] = field(default_factory=dict)
    lake_files: int = 0
    quarantine_file: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Source:
    path: Path
    display: str
    digest: str  # content hash of the whole file, "<algorithm>:<hex>"
    size: int
    start: int  # byte offset to resume from
    gz: bool


def new_load_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"L{now:%Y%m%dT%H%M%S%f}_{secrets.token_hex(3)}"


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; folders recursively for *.jsonl and *.jsonl.gz, in name order."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = [
                f for f in p.rglob("*") if f.is_file() and f.name.endswith((".jsonl", ".jsonl.gz"))
            ]
            out.extend(sorted(found))
        elif p.is_file():
            out.append(p)
        else:
            raise LoadError(
                f"{p}: no such file or folder; pass JSONL files or folders holding them"
            )
    return out


def _hash_file(path: Path, limit: int | None = None, algorithm: str = FILE_HASH) -> str:
    """Content hash of a file (or of its first `limit` bytes), as "<algorithm>:<hex>".

    XXH3-128, as rsync uses to recognise content: identity, not secrecy, at a fraction of
    SHA-256's cost. Manifests written before it hold "sha256" entries; those are still honoured.
    """
    h: Any = xxhash.xxh3_128() if algorithm == FILE_HASH else hashlib.new(algorithm)
    remaining = limit
    with open(path, "rb") as fh:
        while True:
            n = 1 << 22 if remaining is None else min(1 << 22, remaining)
            if n == 0:
                break
            chunk = fh.read(n)
            if not chunk:
                break
            h.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return f"{algorithm}:{h.hexdigest()}"


class _Quarantine:
    """Appends rejected lines to a temporary file that becomes visible at commit."""

    def __init__(self, lake: Lake, load_id: str, redactor: Redactor):
        self.final = lake.quarantine_dir / f"{load_id}.jsonl"
        self.tmp = lake.quarantine_dir / f".tmp-{load_id}.jsonl"
        self.redactor = redactor
        self.fh: BinaryIO | None = None
        self.count = 0

    def add(self, source: str, line_no: int, raw: bytes, rej: Rejection, at: str) -> None:
        if self.fh is None:
            self.fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()
        if rej.reason_code == EVENT_TOO_LARGE:
            raw = raw[:KEPT_BYTES]  # what the producer needs to find the line, not all of it
        rec: dict[str, Any] = {
            "source": source,
            "line_no": line_no,
            "reason_code": rej.reason_code,
            "errors": [e.as_dict() for e in rej.errors],
            "event_id": rej.event_id,
            "quarantined_at": at,
        }
        try:
            rec["raw"] = redacted_raw(raw.decode("utf-8"), self.redactor)
        except UnicodeDecodeError:
            rec["raw_b64"] = base64.b64encode(self.redactor.redact_bytes(raw)).decode()
        line = self.redactor.redact_text(orjson.dumps(rec).decode())
        self.fh.write(line.encode() + b"\n")
        self.count += 1

    def close(self) -> str | None:
        if self.fh is None:
            return None
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.final)
        return str(self.final)


def redacted_raw(text: str, redactor: Redactor) -> str:
    """A rejected line as quarantine keeps it: the line as sent, its secrets redacted.

    A line that parses is redacted decoded (every string, keys included, escapes resolved)
    and kept as sent when nothing changed; one that does not parse is redacted as text with
    its `\\uXXXX` escapes decoded first.
    """
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        decoded = unescape_lossy(text)
        redacted = redactor.redact_text(decoded)
        return text if redacted == decoded else redacted
    redacted_doc = redactor.redact_document(doc)
    return text if redacted_doc == doc else orjson.dumps(redacted_doc).decode()


def write_quarantine(
    rejected: list[tuple[int, bytes, Rejection]],
    source: str,
    data_dir: Path | None = None,
    *,
    redactor: Redactor | None = None,
    now: datetime | None = None,
) -> str | None:
    """Quarantine lines rejected outside `load_paths` (the HTTP loader, source `http`).

    `rejected` holds (line_no, raw, rejection) as a load's quarantine does, in the same record
    format, written to a file of its own, `<source>-<time>_<random>.jsonl`. It is written
    under a temporary name that `Lake.recover` leaves alone, then renamed, so it needs no lake
    lock (a running load never waits for it, nor it for a load). Returns the file's path.
    """
    if not rejected:
        return None
    lake = Lake(data_dir or default_data_dir())
    lake.quarantine_dir.mkdir(parents=True, exist_ok=True)
    at_dt = now or datetime.now(UTC)
    # Not starting with "L": recover() deletes L<load_id> files whose load never committed.
    name = f"{source}-{new_load_id(at_dt)[1:]}"
    q = _Quarantine(lake, name, redactor or DEFAULT_REDACTOR)
    q.tmp = lake.quarantine_dir / f".{name}.partial"
    at = at_dt.isoformat().replace("+00:00", "Z")
    try:
        for line_no, raw, rej in rejected:
            q.add(source, line_no, raw, rej, at)
        path = q.close()
    except OSError:  # a full disk: leave no partial file behind
        if q.fh is not None:
            with contextlib.suppress(OSError):
                q.fh.close()
        q.tmp.unlink(missing_ok=True)
        raise
    fd = os.open(lake.quarantine_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _resolve_sources(
    files: list[Path], manifest: dict[str, dict], summary: LoadSummary
) -> list[_Source]:
    by_path: dict[str, dict] = {}
    for entry in manifest.values():
        prev = by_path.get(entry["path"])
        if prev is None or entry["bytes_loaded"] > prev["bytes_loaded"]:
            by_path[entry["path"]] = entry
    out: list[_Source] = []
    seen_hashes: set[str] = set()
    legacy = [a for a in sorted({k.split(":", 1)[0] for k in manifest}) if a != FILE_HASH]
    for f in files:
        summary.files_seen += 1
        try:
            size = f.stat().st_size
            digest = _hash_file(f)
            known = digest in manifest or any(_hash_file(f, None, a) in manifest for a in legacy)
        except OSError as exc:
            raise LoadError(f"{f}: cannot read ({exc.strerror}); check permissions") from exc
        if known or digest in seen_hashes:
            summary.files_skipped += 1
            continue
        seen_hashes.add(digest)
        start = 0
        prev = by_path.get(str(f.resolve()))
        gz = f.name.endswith(".gz")
        resumable = prev and not gz and 0 < prev["bytes_loaded"] <= size
        if resumable:
            prefix = prev["prefix_hash"]
            if _hash_file(f, prev["bytes_loaded"], prefix.split(":", 1)[0]) == prefix:
                start = prev["bytes_loaded"]
        out.append(_Source(f, str(f), digest, size, start, gz))
    return out


def load_paths(
    paths: list[Path] | list[str],
    data_dir: Path | None = None,
    *,
    final: bool = False,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    config: ValidationConfig | None = None,
    redactor: Redactor | None = None,
    now: datetime | None = None,
    workers: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
    start_method: str = "forkserver",
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> LoadSummary:
    """Load JSONL files and folders into the lake; see the module docstring for guarantees.

    `workers` > 1 validates chunks on a process pool. Its workers come from a fork server (a
    fresh process) by default: forking a process that has used DuckDB can hang the children
    on a lock copied while held. As with any fork server, a script that calls this needs the
    `if __name__ == "__main__":` guard. `agentops-wh load` forks itself
    (`start_method="fork"`): its process is fresh, and forked workers share its imported
    modules and start at once.
    """
    started = time.perf_counter()
    lake = Lake(data_dir or default_data_dir())
    files = expand_paths([Path(p) for p in paths])
    if workers > 1 and sum(f.stat().st_size for f in files) < 2 * chunk_bytes:
        workers = 1  # a pool costs more than it saves on small inputs
    with lake.locked():
        load_now = now or datetime.now(UTC)
        load_id = new_load_id(load_now)
        summary = LoadSummary(load_id)
        pipeline = _Pipeline(workers, start_method)
        try:
            pipeline.start()  # the workers warm up while the files are hashed
            sources = _resolve_sources(files, lake.manifest(), summary)
        except BaseException:
            pipeline.close()
            raise
        ctx = _LoadContext(
            lake=lake,
            load_id=load_id,
            now=load_now,
            loaded_at_us=to_us(load_now),
            config=config or ValidationConfig(),
            redactor=redactor or DEFAULT_REDACTOR,
            final=final,
            grace_seconds=grace_seconds,
            chunk_bytes=chunk_bytes,
            summary=summary,
            quarantine=_Quarantine(lake, load_id, redactor or DEFAULT_REDACTOR),
            pipeline=pipeline,
            at=load_now.isoformat().replace("+00:00", "Z"),
            max_file_bytes=max_file_bytes,
        )
        manifest_entries: list[dict] = []
        try:
            for src in sources:
                try:
                    end = _load_one(src, ctx)
                except _Refused as exc:
                    summary.refused.append(str(exc))
                    continue
                if end > src.start:
                    summary.files_loaded += 1
                    prefix = (
                        src.digest if (end == src.size or src.gz) else _hash_file(src.path, end)
                    )
                    manifest_entries.append(
                        {
                            "load_id": load_id,
                            "path": str(src.path.resolve()),
                            "hash": prefix,
                            "prefix_hash": prefix,
                            "bytes_loaded": end,
                            "size": src.size,
                        }
                    )
            ctx.files = ctx.pipeline.finish(load_id)
            ctx.pipeline.close()
            summary.quarantined = ctx.quarantine.count
            summary.by_reason = dict(sorted(ctx.reasons.items()))
            summary.lake_files = len(ctx.files)
            if ctx.files:
                _count_duplicates(lake, ctx.files, summary)
            summary.quarantine_file = ctx.quarantine.close()
            summary.seconds = round(time.perf_counter() - started, 3)
            lake.commit(load_id, summary.as_dict(), manifest_entries, ctx.files)
        except (OSError, duckdb.IOException) as exc:
            _abort(ctx)
            if isinstance(exc, duckdb.IOException):
                exc = disk_error(exc)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise LoadError(
                    f"disk full while writing under {lake.data_dir}; free space and run the load "
                    "again (nothing of this load was kept)"
                ) from exc
            raise LoadError(f"load failed: {exc}; nothing of this load was kept") from exc
        except BaseException:
            _abort(ctx)
            raise
    return summary


def _abort(ctx: _LoadContext) -> None:
    ctx.pipeline.close(abort=True)
    discard_load(ctx.load_id)
    if ctx.quarantine.fh is not None:
        with contextlib.suppress(OSError):  # a full disk refuses the buffered tail: no matter
            ctx.quarantine.fh.close()
    ctx.lake.recover()


@dataclass
class _ChunkResult:
    accepted: int = 0
    blank: int = 0
    rejected: list[tuple[int, bytes, Rejection]] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _ChunkJob:
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


_NOT_EMPTY = re.compile(rb"[^\n\r][^\n]*|\r[^\n]+")


def split_lines(blob: bytes, newlines: int) -> tuple[list[bytes], list[int] | None, int]:
    """The lines of a block, without the empty ones when there are many (a newline flood).

    Returns the lines, their 0-based numbers in the block (None: numbered in order) and how
    many empty lines were left out. Events are hundreds of bytes: a block averaging under 32
    bytes a line is mostly empty lines, which one C-speed regex scan skips.
    """
    if newlines * 32 <= len(blob):
        lines = blob.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        return lines, None, 0
    lines, numbers = [], []
    n = pos = 0
    count = blob.count
    for m in _NOT_EMPTY.finditer(blob):
        start = m.start()
        n += count(b"\n", pos, start)
        pos = start
        lines.append(m.group())
        numbers.append(n)
    total = newlines + (0 if blob.endswith(b"\n") or not blob else 1)
    return lines, numbers, total - len(lines)


def _process_chunk(job: _ChunkJob) -> _ChunkResult:
    """Validate one chunk of complete lines and write its valid events, one file per date."""
    was_enabled = gc.isenabled()
    gc.disable()  # the chunk allocates many short-lived dicts and no cycles; GC only slows it
    try:
        return _process_chunk_inner(job)
    finally:
        if was_enabled:
            gc.enable()


def _process_chunk_inner(job: _ChunkJob) -> _ChunkResult:
    """The loader's hot loop: most lines take the fast path, the rest `check_line`.

    The fast path is `check_line` unrolled for a valid event in any JSON form (orjson's compact
    text, Python's `json.dumps` spacing, any key order, `\\uXXXX` escapes). Any line it is not
    sure about goes through `check_line`, which gives the verdict and the reasons; tests hold
    the two to the same verdicts and stored bytes.
    """
    res = _ChunkResult()
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


KEPT_BYTES = 1024  # the first bytes of a line too large to load, kept in the quarantine


@dataclass(frozen=True)
class _LongLine:
    """A line longer than the per-line cap: where it starts, its length, its first bytes."""

    pos: int
    length: int  # without its newline
    head: bytes
    ended: bool  # False when the file ended inside it


def _skip_line(fh: BinaryIO, seen: int, read_bytes: int) -> tuple[int, bool, bytes]:
    """Read past the rest of a line whose first `seen` bytes are read, keeping none of it.

    Returns the line's length (without its newline), whether a newline ended it, and the
    bytes read after that newline. Memory stays at one read, whatever the line's length.
    """
    length = seen
    while True:
        block = fh.read(read_bytes)
        if not block:
            return length, False, b""
        cut = block.find(b"\n")
        if cut >= 0:
            return length + cut, True, block[cut + 1 :]
        length += len(block)


def _iter_chunks(
    fh: BinaryIO, chunk_bytes: int, max_line: int = 1 << 62
) -> Iterator[tuple[int, bytes, int] | _LongLine]:
    """Blocks of whole lines of a stream (gzip), as `_iter_ranges` yields them; the last block
    may hold an unfinished line (`end` 0). A line longer than `max_line` is skipped, not
    buffered: it comes as a `_LongLine`."""
    pending = b""
    while True:
        block = fh.read(chunk_bytes)
        if not block:
            break
        block = pending + block if pending else block
        cut = block.rfind(b"\n")
        if cut < 0:
            pending = block
        else:
            pending = block[cut + 1 :]
            yield 0, block[: cut + 1], cut + 1
        while len(pending) > max_line and b"\n" not in pending:
            length, ended, rest = _skip_line(fh, len(pending), chunk_bytes)
            yield _LongLine(0, length, pending[:KEPT_BYTES], ended)
            pending = rest
            cut = pending.rfind(b"\n")
            if cut >= 0:
                yield 0, pending[: cut + 1], cut + 1
                pending = pending[cut + 1 :]
    if pending:
        yield 0, pending, 0


def _iter_ranges(
    fh: BinaryIO, start: int, chunk_bytes: int, max_line: int = 1 << 62
) -> Iterator[tuple[int, bytes, int] | _LongLine]:
    """Ranges of whole lines of a plain file: (offset, block, end of the whole lines in block).

    Each block is read where the previous range ended (a seek, not a copy of the partial
    line); `end` is 0 for the last block when it holds no newline at all (an unfinished line).
    A line longer than `max_line` is skipped, not buffered: it comes as a `_LongLine`.
    """
    pos = start
    while True:
        fh.seek(pos)
        block = fh.read(chunk_bytes)
        if not block:
            return
        cut = block.rfind(b"\n")
        while cut < 0:  # a line longer than a chunk: read on to its end
            if len(block) > max_line:
                length, ended, _ = _skip_line(fh, len(block), chunk_bytes)
                yield _LongLine(pos, length, block[:KEPT_BYTES], ended)
                if not ended:
                    return
                pos += length + 1
                break
            more = fh.read(chunk_bytes)
            if not more:
                yield pos, block, 0
                return
            cut = more.rfind(b"\n")
            cut = cut + len(block) if cut >= 0 else -1
            block += more
        else:
            yield pos, block, cut + 1
            pos += cut + 1


class _NoPandas:
    """An import hook that refuses `pandas`, installed only while a worker warms up."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ImportError("pandas is not used by the loader's workers")


def _init_worker() -> None:
    """Warm up a forked worker: pyarrow's first conversion of a Python list imports pandas
    (0.15 s a process) only to ask whether the list is a pandas object. Refused once, pyarrow
    remembers there is no pandas; the hook is removed at once, so nothing else is affected.
    """
    writer_connection()  # and open the worker's DuckDB connection (~15 ms) before the first chunk
    with contextlib.suppress(Exception):  # jemalloc only: hand freed memory back at once
        pa.jemalloc_set_decay_ms(0)
    if "pandas" in sys.modules:
        return
    hook = _NoPandas()
    sys.meta_path.insert(0, hook)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(hook)


class _Pipeline:
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

    def submit(self, job: _ChunkJob, on_result: Any) -> None:
        if self.workers <= 1:
            on_result(_process_chunk(job))
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
            out = _process_chunk(value) if kind == "chunk" else finish_load(value)
        except Exception as exc:  # the parent raises it; it must cross the pipe
            try:
                conn.send(("error", exc))
            except Exception:
                conn.send(("error", LoadError(f"{type(exc).__name__}: {exc}")))
            continue
        conn.send(("ok", out))


def _load_one(
    src: _Source,
    ctx: _LoadContext,
) -> int:
    """Load one source from its resume offset; returns the byte offset loaded up to."""
    complete = ctx.final or src.gz or (time.time() - src.path.stat().st_mtime) >= ctx.grace_seconds
    offset = src.start
    line_no = 0
    if src.start:  # resuming a file that grew: number lines as in the whole file
        with open(src.path, "rb") as fh:
            remaining = src.start
            while remaining:
                block = fh.read(min(remaining, 1 << 22))
                line_no += block.count(b"\n")
                remaining -= len(block)
    ctx.source_for_rejects = src.display
    try:
        _check_file_size(src, ctx.max_file_bytes)
        fh: BinaryIO = gzip.open(src.path, "rb") if src.gz else open(src.path, "rb")  # noqa: SIM115
        with fh:
            # A line can end in "\r": one byte more than an event may be is still loadable.
            max_line = ctx.config.max_event_bytes + 1
            if src.gz:
                chunks = _iter_chunks(fh, ctx.chunk_bytes, max_line)
            else:
                chunks = _iter_ranges(fh, src.start, ctx.chunk_bytes, max_line)
            for item in chunks:
                if type(item) is _LongLine:
                    if not item.ended and not complete:
                        ctx.summary.incomplete_lines += 1
                        break
                    line_no += 1
                    ctx.reject_long_line(line_no, item)
                    offset += item.length + item.ended
                    continue
                pos, block, end = item  # type: ignore[misc]
                if not end and not complete:
                    ctx.summary.incomplete_lines += 1
                    break
                # Workers read a plain file's range themselves; gzip and inline get the bytes.
                by_range = bool(end) and not src.gz and ctx.pipeline.workers > 1
                n_lines = block.count(b"\n", 0, end)
                ctx.seq += 1
                job = _ChunkJob(
                    str(ctx.lake.data_dir),
                    ctx.load_id,
                    ctx.seq,
                    src.display,
                    line_no + 1,
                    None if by_range else (block if end in (0, len(block)) else block[:end]),
                    ctx.now,
                    ctx.loaded_at_us,
                    ctx.config,
                    ctx.redactor,
                    str(src.path),
                    pos,
                    end,
                    n_lines,
                )
                ctx.pipeline.submit(job, ctx.on_result)
                offset += end or len(block)
                line_no += n_lines + (0 if end else 1)
            ctx.pipeline.drain(ctx.on_result)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise LoadError(
            f"{src.path}: unreadable ({exc}); fix or remove the file and load again"
        ) from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise LoadError(
            f"{src.path}: unreadable ({exc}); fix or remove the file and load again"
        ) from exc
    return src.size if src.gz else offset


class _Refused(Exception):
    """A file the load leaves out (the other files still load)."""


def _check_file_size(src: _Source, cap: int) -> None:
    """Refuse a file whose content, decompressed, is larger than `cap` bytes.

    A gzip file is inflated once up to the cap (its stated size is only a hint, modulo 4 GiB):
    a small file that expands without end is refused before anything of it is loaded.
    """
    size = src.size
    if src.gz:
        size = 0
        with gzip.open(src.path, "rb") as fh:
            while size <= cap:
                block = fh.read(1 << 20)
                if not block:
                    break
                size += len(block)
    if size > cap:
        raise _Refused(
            f"{src.display}: refused, more than {cap:,} bytes"
            + (" once decompressed" if src.gz else "")
            + " (--max-file-bytes); split it into smaller files"
        )


@dataclass
class _LoadContext:
    lake: Lake
    load_id: str
    now: datetime
    loaded_at_us: int
    config: ValidationConfig
    redactor: Redactor
    final: bool
    grace_seconds: float
    chunk_bytes: int
    summary: LoadSummary
    quarantine: _Quarantine
    pipeline: _Pipeline
    at: str
    reasons: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)
    seq: int = 0
    source_for_rejects: str = ""
    max_file_bytes: int = 0

    def reject_long_line(self, line_no: int, line: _LongLine) -> None:
        """Quarantine a line too long to read whole, with its first bytes, in line order."""
        self.pipeline.drain(self.on_result)
        msg = (
            f"line is {line.length} bytes; the limit is {self.config.max_event_bytes} bytes "
            f"(its first {min(KEPT_BYTES, line.length)} bytes are kept)"
        )
        rej = Rejection(EVENT_TOO_LARGE, (FieldError("", msg),))
        self.quarantine.add(self.source_for_rejects, line_no, line.head, rej, self.at)
        self.reasons[EVENT_TOO_LARGE] += 1

    def on_result(self, res: _ChunkResult) -> None:
        self.summary.accepted += res.accepted
        self.summary.blank_lines += res.blank
        self.dates |= res.dates
        for line_no, raw, rej in res.rejected:
            self.quarantine.add(self.source_for_rejects, line_no, raw, rej, self.at)
            self.reasons[rej.reason_code] += 1


# The lake columns the duplicate and conflict counts read (struct fields flattened).
_KEY_COLUMNS = (
    "tenant.tenant_id AS tenant_id, event_id, event_type, "
    "model_call.model_call_id AS model_call_id, run.run_id AS run_id, "
    "event_hash, loaded_at, load_id, source_file, source_line"
)
_EVENT_KEY = tenant_key_sql("tenant_id", "event_id")
# The ids besides its event_id that one event alone may claim within its tenant: summary
# field -> (the id's key, which events claim it).
_CLAIMED_IDS = {
    "conflicting_model_calls": (
        tenant_key_sql("tenant_id", "model_call_id"),
        "model_call_id IS NOT NULL",
    ),
    "conflicting_run_completions": (
        tenant_key_sql("tenant_id", "run_id"),
        "event_type = 'run.completed'",
    ),
}
# "Earlier" as the warehouse orders copies: earlier loads first, then load order.
_LOAD_ORDER = "ORDER BY is_new, loaded_at, load_id, source_file, source_line"


def _count_duplicates(lake: Lake, new_files: list[str], summary: LoadSummary) -> None:
    """Count this load's duplicates and id conflicts against earlier loads and earlier lines.

    Every key is the tenant's (ingestion/keys.py): another tenant's event with the same
    event_id is neither a duplicate nor a conflict. A duplicate is a later copy of an event
    (tenant_id, event_id); it conflicts when its content hash differs from the first copy's.
    An id conflict is a distinct event that reuses, within its tenant, the model_call_id of
    an earlier event, or a second run.completed of a run (dq_conflicting_ids lists them).

    Reads only the key columns of the committed lake, and of earlier loads only the rows
    that share a key with this load (the semi-joins keep memory to the keys of this load).
    """
    new_set = set(new_files)
    old_files = [str(p) for p in lake.events_dir.rglob("*.parquet") if str(p) not in new_set]
    con = duckdb.connect()
    try:
        # A big load has millions of ids: cap DuckDB's memory and let it spill to disk, so
        # the loader's footprint stays flat whatever the load's size.
        spill = lake.root / ".duckdb_tmp"
        con.execute(f"SET temp_directory = '{spill}'")
        con.execute("SET memory_limit = '192MB'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            f"CREATE TEMP VIEW new_copies AS "
            f"SELECT {_KEY_COLUMNS}, 1 AS is_new FROM read_parquet({new_files!r})"
        )
        if old_files:
            keys = [(_EVENT_KEY, "true"), *_CLAIMED_IDS.values()]
            shares_key = " OR ".join(
                f"({claims} AND {key} IN (SELECT {key} FROM new_copies WHERE {claims}))"
                for key, claims in keys
            )
            old_rel = (
                f"SELECT * FROM (SELECT {_KEY_COLUMNS}, 0 AS is_new "
                f"FROM read_parquet({old_files!r})) WHERE {shares_key}"
            )
        else:
            old_rel = "SELECT * FROM new_copies WHERE false"
        con.execute(f"CREATE TEMP TABLE copies AS SELECT * FROM new_copies UNION ALL {old_rel}")
        repeats = " + ".join(
            f"(SELECT count(*) FROM (SELECT 1 FROM copies WHERE {claims} "
            f"GROUP BY {key} HAVING count(*) > 1))"
            for key, claims in [(_EVENT_KEY, "true"), *_CLAIMED_IDS.values()]
        )
        # Ordering copies is the costly part: skipped when no key repeats (the common case).
        if con.execute(f"SELECT {repeats}").fetchone()[0] == 0:
            return
        con.execute(
            "CREATE TEMP TABLE ranked AS SELECT *, row_number() OVER w AS copy_no, "
            "first_value(event_hash) OVER w AS first_hash "
            f"FROM copies WINDOW w AS (PARTITION BY {_EVENT_KEY} {_LOAD_ORDER})"
        )
        row = con.execute(
            "SELECT count(*) FILTER (WHERE copy_no > 1), "
            "count(*) FILTER (WHERE copy_no > 1 AND event_hash <> first_hash) "
            "FROM ranked WHERE is_new = 1"
        ).fetchone()
        summary.duplicates, summary.conflicting_duplicates = int(row[0]), int(row[1])
        for field_name, (key, claims) in _CLAIMED_IDS.items():
            # Among distinct events (first copies), the later claims of one id.
            (n,) = con.execute(
                "SELECT count(*) FROM (SELECT is_new, row_number() OVER "
                f"(PARTITION BY {key} {_LOAD_ORDER}) AS claim_no "
                f"FROM ranked WHERE copy_no = 1 AND {claims}) "
                "WHERE claim_no > 1 AND is_new = 1"
            ).fetchone()
            setattr(summary, field_name, int(n))
    finally:
        con.close()


def format_summary(s: LoadSummary) -> str:
    parts = [
        f"loaded {s.accepted:,} events from {s.files_loaded} file(s)",
        f"{s.quarantined:,} quarantined",
        f"{s.duplicates:,} duplicates ({s.conflicting_duplicates:,} conflicting)",
        f"{s.blank_lines:,} blank lines",
    ]
    if s.conflicting_model_calls or s.conflicting_run_completions:
        parts.append(
            f"{s.conflicting_model_calls:,} model call(s) reusing a model_call_id and "
            f"{s.conflicting_run_completions:,} repeated run.completed (not counted; see "
            "data_quality.dq_conflicting_ids after the next build)"
        )
    if s.files_skipped:
        parts.append(f"{s.files_skipped} file(s) already loaded")
    if s.incomplete_lines:
        parts.append(f"{s.incomplete_lines} incomplete final line(s) held back (use --final)")
    text = ", ".join(parts) + f" in {s.seconds:.2f}s"
    if s.by_reason:
        text += "\nquarantine reasons: " + ", ".join(f"{k}={v}" for k, v in s.by_reason.items())
    if s.quarantine_file:
        text += f"\nquarantined lines: {s.quarantine_file}"
    return text


def _cmd_load(args: argparse.Namespace) -> int:
    config = ValidationConfig(
        max_event_bytes=args.max_event_bytes,
        max_future_skew=__import__("datetime").timedelta(seconds=args.max_future_skew),
        min_occurred_at=args.min_occurred_at,
    )
    try:
        summary = load_paths(
            args.paths,
            workers=args.workers,
            start_method="fork",  # this process holds no DuckDB connection yet
            final=args.final,
            grace_seconds=args.grace_seconds,
            config=config,
            redactor=Redactor.from_env(),
            max_file_bytes=args.max_file_bytes,
        )
    except LoadError as exc:
        print(f"agentops-wh load: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(summary.as_dict()).decode())
    else:
        print(format_summary(summary))
    for message in summary.refused:
        print(f"agentops-wh load: error: {message}", file=sys.stderr)
    # The process ends here: spare the interpreter's final garbage collections, which walk
    # every object of every imported module (60-90 ms of the command's time). Objects are
    # still freed and every exit handler still runs.
    gc.freeze()
    return 3 if summary.refused else 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "load",
        help="validate JSONL files or folders into the Parquet lake",
        description="Validate JSONL event files (or folders of *.jsonl / *.jsonl.gz) into the "
        "Parquet lake under $AGENTOPS_DATA_DIR/lake; bad lines go to "
        "$AGENTOPS_DATA_DIR/quarantine.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument(
        "--final",
        action="store_true",
        help="the files are complete: judge a last line without newline instead of holding it back",
    )
    p.add_argument(
        "--grace-seconds",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        help="a file unchanged this long counts as complete (default: %(default)s)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes validating in parallel on large inputs (default: one per core)",
    )
    p.add_argument(
        "--max-event-bytes",
        type=int,
        default=256 * 1024,
        help="a longer line is quarantined as event_too_large, read past without being "
        "buffered (default: %(default)s)",
    )
    p.add_argument(
        "--max-file-bytes",
        type=int,
        default=DEFAULT_MAX_FILE_BYTES,
        help="a file larger than this (decompressed) is refused and the others load; the "
        "command then exits 3 (default: %(default)s)",
    )
    p.add_argument(
        "--max-future-skew", type=float, default=300.0, help="seconds (default: %(default)s)"
    )
    add_min_occurred_at(p)
    p.set_defaults(func=_cmd_load)


def add_min_occurred_at(p: argparse.ArgumentParser) -> None:
    """The `--min-occurred-at` option `load` and `serve` share."""
    p.add_argument(
        "--min-occurred-at",
        type=_utc_date,
        default=DEFAULT_MIN_OCCURRED_AT,
        metavar="YYYY-MM-DD",
        help="events that occurred before this UTC date are quarantined as occurred_too_early "
        "(default: 2000-01-01)",
    )


def _utc_date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2000-01-01") from None

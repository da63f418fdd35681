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
import contextlib
import errno
import gc
import gzip
import hashlib
import logging
import os
import sys
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import orjson
import xxhash

from ingestion.files.chunks import (
    ChunkJob,
    ChunkResult,
    LoadError,
    Pipeline,
    discard_load,
    skip_pandas,
)
from ingestion.files.reading import LongLine, iter_chunks, iter_ranges
from ingestion.lake.quarantine import KEPT_BYTES, Quarantine, write_quarantine
from ingestion.lake.store import Lake, disk_error, new_load_id
from ingestion.logs import MAX_IDS
from ingestion.settings import data_dir as default_data_dir
from ingestion.validation.contract import (
    DEFAULT_MIN_OCCURRED_AT,
    EVENT_TOO_LARGE,
    FieldError,
    Rejection,
    ValidationConfig,
    to_us,
)
from ingestion.validation.keys import tenant_key_sql
from ingestion.validation.redaction import DEFAULT_REDACTOR, Redactor

log = logging.getLogger("agentops.loader")

__all__ = ["LoadError", "LoadSummary", "expand_paths", "load_paths", "write_quarantine"]

FILE_HASH = "xxh3_128"  # the manifest's content hash of source files
CHUNK_BYTES = 8 << 20  # about 13k events of 600 bytes, validated and written as one job
DEFAULT_GRACE_SECONDS = 60.0
DEFAULT_MAX_FILE_BYTES = 16 << 30  # per file, decompressed: bounds the time one file takes


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
        pipeline = Pipeline(workers, start_method)
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
            quarantine=Quarantine(lake, load_id, redactor or DEFAULT_REDACTOR),
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
            log.info(
                "load %s committed: %d accepted, %d quarantined, %d duplicate(s)",
                load_id,
                summary.accepted,
                summary.quarantined,
                summary.duplicates,
                extra={
                    "load_id": load_id,
                    "files": [e["path"] for e in manifest_entries][:MAX_IDS],
                    "lake_files": len(ctx.files),
                },
            )
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
                chunks = iter_chunks(fh, ctx.chunk_bytes, max_line)
            else:
                chunks = iter_ranges(fh, src.start, ctx.chunk_bytes, max_line)
            for item in chunks:
                if type(item) is LongLine:
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
                job = ChunkJob(
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
    quarantine: Quarantine
    pipeline: Pipeline
    at: str
    reasons: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)
    seq: int = 0
    source_for_rejects: str = ""
    max_file_bytes: int = 0

    def reject_long_line(self, line_no: int, line: LongLine) -> None:
        """Quarantine a line too long to read whole, with its first bytes, in line order."""
        self.pipeline.drain(self.on_result)
        msg = (
            f"line is {line.length} bytes; the limit is {self.config.max_event_bytes} bytes "
            f"(its first {min(KEPT_BYTES, line.length)} bytes are kept)"
        )
        rej = Rejection(EVENT_TOO_LARGE, (FieldError("", msg),))
        self.quarantine.add(self.source_for_rejects, line_no, line.head, rej, self.at)
        self.reasons[EVENT_TOO_LARGE] += 1

    def on_result(self, res: ChunkResult) -> None:
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

    Every key is the tenant's (ingestion/validation/keys.py): another tenant's event with the same
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
    skip_pandas()  # this process only loads: small inputs are validated here, not on workers
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

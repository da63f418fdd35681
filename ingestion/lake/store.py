"""The Parquet lake: its schema, and atomic, crash-safe writes into it.

Layout under `$AGENTOPS_DATA_DIR/lake/`:

    events/event_date=YYYY-MM-DD/<load_id>-w<n>.parquet    zstd, one per load, writer and date
    _loads/<load_id>.json                                  commit record of a finished load
    _manifest.jsonl                                        content hash of every loaded source

A load writes its files as `<name>.parquet.pending`, which no `*.parquet` glob matches; its
commit record makes them part of the lake, and only then are they renamed to `.parquet`. So
whatever a reader's glob finds is committed and complete. `recover()`, before the next load
writes, finishes the renames of a committed load that was killed mid-way and removes the files
of a load that never committed.
Writers take an exclusive `flock` on `lake/.lock`, so the file loader and the HTTP flusher
never interleave.

Sections of the event stay Parquet structs with the contract's field names, so dbt reads
`model_call.provider` by name; `attributes` is a JSON string (its values are open-ended).
Only portable types are used (no UUID, no DuckDB-only types): Spark and others read it as is.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.fsync import fsync_dir, fsync_file
from ingestion.validation.contract import TIMESTAMP_FIELDS, Stamps, attributes_json, content_hash

MONEY = pa.decimal128(38, 18)
TS = pa.timestamp("us", tz="UTC")
S = pa.string()


def _struct(**fields: pa.DataType) -> pa.StructType:
    return pa.struct([pa.field(k, v) for k, v in fields.items()])


EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", S, nullable=False),
        pa.field("event_version", S, nullable=False),
        pa.field("event_type", S, nullable=False),
        pa.field("occurred_at", TS, nullable=False),
        pa.field("tenant", _struct(tenant_id=S, workspace_id=S, project_id=S)),
        pa.field(
            "run",
            _struct(run_id=S, agent_id=S, workflow_id=S, status=S, started_at=TS, ended_at=TS),
        ),
        pa.field("trace", _struct(trace_id=S, span_id=S, parent_span_id=S)),
        pa.field("step", _struct(step_id=S, step_type=S, status=S, latency_ms=pa.float64())),
        pa.field(
            "model_call",
            _struct(
                model_call_id=S,
                provider=S,
                model=S,
                step_id=S,
                latency_ms=pa.float64(),
                request_id=S,
            ),
        ),
        pa.field(
            "tool_call", _struct(tool_call_id=S, tool_name=S, step_id=S, latency_ms=pa.float64())
        ),
        pa.field(
            "policy",
            _struct(
                policy_id=S,
                decision=S,
                rule=S,
                reason=S,
                actor=_struct(actor_type=S, actor_id=S),
            ),
        ),
        pa.field(
            "budget",
            _struct(
                budget_id=S,
                scope=S,
                scope_id=S,
                period=S,
                period_start=TS,
                limit_usd=MONEY,
                threshold_pct=pa.float64(),
                spend_usd=MONEY,
                enforcement=S,
            ),
        ),
        pa.field(
            "alert",
            _struct(
                alert_id=S,
                alert_type=S,
                threshold=pa.float64(),
                current_value=pa.float64(),
                destination=S,
                sent_at=TS,
            ),
        ),
        pa.field("error", _struct(code=S, message=S, type=S, retryable=pa.bool_())),
        pa.field(
            "resource_usage",
            _struct(
                input_tokens=pa.int64(),
                output_tokens=pa.int64(),
                cached_tokens=pa.int64(),
                cache_write_tokens=pa.int64(),
                reasoning_tokens=pa.int64(),
                total_tokens=pa.int64(),
            ),
        ),
        pa.field("cost", _struct(cost_usd=MONEY, currency=S, price_book_version=S)),
        pa.field("attributes", S),
        # Loader columns.
        pa.field("event_hash", S, nullable=False),
        pa.field("loaded_at", TS, nullable=False),
        pa.field("load_id", S, nullable=False),
        pa.field("source_file", S, nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
    ]
)

SECTION_FIELDS = [f.name for f in EVENT_SCHEMA if pa.types.is_struct(f.type)]
LOADER_FIELDS = ["event_hash", "loaded_at", "load_id", "source_file", "source_line"]
# Timestamps inside sections; the loader already parsed them (any RFC 3339 offset) to UTC us.
_SECTION_TS: dict[str, tuple[str, ...]] = {}
for _section, _name in (path for path in TIMESTAMP_FIELDS if len(path) == 2):
    _SECTION_TS[_section] = (*_SECTION_TS.get(_section, ()), _name)


def _duck_type(t: pa.DataType) -> str:
    """The DuckDB type `json_transform` reads a field as: timestamps stay text (we set them)."""
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f'"{f.name}" {_duck_type(f.type)}' for f in t) + ")"
    if pa.types.is_timestamp(t):
        return "VARCHAR"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    return {"string": "VARCHAR", "double": "DOUBLE", "int64": "BIGINT", "bool": "BOOLEAN"}[str(t)]


_JSON_FIELDS = [f for f in EVENT_SCHEMA if f.name not in LOADER_FIELDS and f.name != "attributes"]
_JSON_STRUCTURE = json.dumps({f.name: _duck_type(f.type) for f in _JSON_FIELDS})
# Columns of the Arrow table handed to DuckDB beside each event's line, one per member of
# `Stamps` (TIMESTAMP_FIELDS order): occurred_at, run__started_at, ...
_STAMP_COLUMNS = ["__".join(path) for path in TIMESTAMP_FIELDS]


def _select_list() -> str:
    """The lake's columns, in EVENT_SCHEMA order, from the parsed line `e` and the extras."""
    out = []
    for f in EVENT_SCHEMA:
        name = f.name
        if name in LOADER_FIELDS or name in ("attributes", "occurred_at"):
            out.append(f'c."{name}"')
        elif name in _SECTION_TS:
            members = ", ".join(
                f'"{m.name}" := c."{name}__{m.name}"'
                if m.name in _SECTION_TS[name]
                else f'"{m.name}" := e."{name}"."{m.name}"'
                for m in f.type
            )
            out.append(
                f'CASE WHEN e."{name}" IS NOT NULL THEN struct_pack({members}) END AS "{name}"'
            )
        else:
            out.append(f'e."{name}"')
    return ",\n    ".join(out)


_SELECT_SQL = f"""
SELECT
  {_select_list()}
FROM (SELECT json_transform(line, '{_JSON_STRUCTURE}') AS e, * FROM chunk) AS c
"""


@dataclass
class EventColumns:
    """Validated events of one event date, column by column, as the loader collects them."""

    raws: list[bytes] = field(default_factory=list)  # the event as one line of JSON
    stamps: list[Stamps] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    attributes: list[str | None] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def add(self, raw: bytes, stamps: Stamps, event: dict[str, Any], line: int) -> None:
        """One validated event: its line, timestamps, content hash and sorted attributes."""
        self.raws.append(raw)
        self.stamps.append(stamps)
        self.hashes.append(content_hash(event))
        self.attributes.append(attributes_json(event))
        self.lines.append(line)

    def extend(self, other: EventColumns) -> None:
        self.raws += other.raws
        self.stamps += other.stamps
        self.hashes += other.hashes
        self.attributes += other.attributes
        self.lines += other.lines

    def replace(self, pos: int, raw: bytes, event: dict[str, Any]) -> None:
        """The event at `pos` as it is stored after all (redaction), same line and stamps."""
        self.raws[pos] = raw
        self.hashes[pos] = content_hash(event)
        self.attributes[pos] = attributes_json(event)

    def to_arrow(self, loaded_at_us: int, load_id: str, source_file: str) -> pa.Table:
        """The events' lines beside everything the validator computed, for `write_events`."""
        n = len(self.raws)
        cols: dict[str, pa.Array] = {"line": pa.array(self.raws, type=pa.binary()).cast(S)}
        for name, values in zip(_STAMP_COLUMNS, zip(*self.stamps, strict=True), strict=True):
            cols[name] = pa.array(values, type=TS)
        cols["attributes"] = pa.array(self.attributes, type=S)
        cols["event_hash"] = pa.array(self.hashes, type=S)
        cols["loaded_at"] = pa.repeat(pa.scalar(loaded_at_us, type=TS), n)
        cols["load_id"] = pa.repeat(pa.scalar(load_id, type=S), n)
        cols["source_file"] = pa.repeat(pa.scalar(source_file, type=S), n)
        cols["source_line"] = pa.array(self.lines, type=pa.int64())
        return pa.table(cols)


_DUCK: tuple[int, duckdb.DuckDBPyConnection] | None = None


def writer_connection() -> duckdb.DuckDBPyConnection:
    """This process's DuckDB connection (loader workers are forked: one each, made lazily)."""
    global _DUCK
    if _DUCK is None or _DUCK[0] != os.getpid():
        con = duckdb.connect(config={"threads": 1, "memory_limit": "256MB"})
        con.execute("SET TimeZone = 'UTC'")
        _DUCK = (os.getpid(), con)
    return _DUCK[1]


class DayFiles:
    """One writer's pending Parquet files of one load: one per event date, a row group per chunk.

    A load's events arrive chunk by chunk, each spanning any number of days; appending each
    chunk's day to that day's open file keeps a load to one file per (writer, day), however
    many chunks it reads. Files stay `.pending` (matching no `*.parquet` glob) until
    `Lake.commit` renames them; a killed load leaves only pending files, which `recover`
    removes.

    DuckDB's JSON reader turns the (already validated) lines into the lake's structs: it is
    twice as fast as Arrow's here, and parses JSON numbers straight into DECIMAL, so money
    keeps the digits the producer sent. Timestamps come from the validator, which parsed
    every RFC 3339 offset to UTC microseconds. Arrow's writer appends the row groups (DuckDB's
    COPY writes whole files only).
    """

    def __init__(self, lake: Lake, load_id: str, tag: str):
        self.lake, self.load_id, self.tag = lake, load_id, tag
        self.open: dict[str, tuple[pq.ParquetWriter, Path]] = {}

    def append(
        self, by_date: list[tuple[str, EventColumns]], loaded_at_us: int, source_file: str
    ) -> None:
        """Add a chunk's validated events, by date (YYYY-MM-DD): a row group per date's file.

        The chunk goes through DuckDB once, whatever the number of dates, then is cut by date.
        """
        merged, bounds = EventColumns(), []
        for day, cols in by_date:
            bounds.append((day, len(merged.raws), len(cols.raws)))
            merged.extend(cols)
        con = writer_connection()
        con.register("chunk", merged.to_arrow(loaded_at_us, self.load_id, source_file))
        try:
            table = con.sql(_SELECT_SQL).to_arrow_table().cast(EVENT_SCHEMA)
        finally:
            con.unregister("chunk")
        try:
            for day, start, n in bounds:
                self._writer(day).write_table(table.slice(start, n), row_group_size=n or 1)
        except (pa.ArrowException, OSError) as exc:
            raise disk_error(exc) from exc

    def _writer(self, day: str) -> pq.ParquetWriter:
        entry = self.open.get(day)
        if entry is None:
            dest = self.lake.events_dir / f"event_date={day}" / f"{self.load_id}-{self.tag}"
            dest = dest.with_name(dest.name + ".parquet" + PENDING)
            dest.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(dest, EVENT_SCHEMA, compression="zstd", compression_level=1)
            entry = self.open[day] = (writer, dest)
        return entry[0]

    def close(self) -> list[str]:
        """Finish every file (footer written, fsynced); returns their pending paths."""
        out = []
        for writer, dest in self.open.values():
            try:
                writer.close()
            except (pa.ArrowException, OSError) as exc:
                raise disk_error(exc) from exc
            fsync_file(dest)
            out.append(str(dest))
        self.open.clear()
        return out

    def discard(self) -> None:
        """Close without caring for the files (the load failed; `recover` removes them)."""
        for writer, _ in self.open.values():
            with contextlib.suppress(Exception):
                writer.close()
        self.open.clear()


def new_load_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"L{now:%Y%m%dT%H%M%S%f}_{secrets.token_hex(3)}"


def event_date_of_us(us: int) -> str:
    """The partition name of a UTC instant: always YYYY-MM-DD (strftime gives "1-01-01")."""
    return (_EPOCH_DATE + timedelta(days=us // 86_400_000_000)).isoformat()


_EPOCH_DATE = date(1970, 1, 1)


class Lake:
    """The lake under a data directory: paths, locking, atomic files, commits and recovery."""

    def __init__(self, data_dir: Path | str):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "lake"
        self.events_dir = self.root / "events"
        self.loads_dir = self.root / "_loads"
        self.manifest_path = self.root / "_manifest.jsonl"
        self.quarantine_dir = self.data_dir / "quarantine"

    def ensure(self) -> None:
        for d in (self.events_dir, self.loads_dir, self.quarantine_dir):
            d.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive writer lock; recovers what a killed writer left before yielding."""
        self.ensure()
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self.recover()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def committed_load_ids(self) -> set[str]:
        return {p.stem for p in self.loads_dir.glob("*.json")}

    def recover(self) -> list[Path]:
        """Delete files of loads that never committed and stray temporaries. Returns them.

        Pending files of a committed load (killed between its commit record and the renames)
        are published instead.
        """
        committed = self.committed_load_ids()
        removed: list[Path] = []
        self._truncate_torn_manifest()
        for d in (self.events_dir, self.quarantine_dir):
            for p in d.rglob("*"):
                if not p.is_file():
                    continue
                if p.name.startswith(".tmp-"):
                    p.unlink()
                    removed.append(p)
                    continue
                if p.name.endswith(PENDING):
                    if p.name.split("-", 1)[0] in committed:
                        publish([p])
                    else:
                        p.unlink()
                        removed.append(p)
                    continue
                load_id = (
                    p.name.split("-", 1)[0].split(".", 1)[0]
                    if p.suffix in (".parquet", ".jsonl")
                    else None
                )
                if load_id and load_id.startswith("L") and load_id not in committed:
                    p.unlink()
                    removed.append(p)
        return removed

    def _truncate_torn_manifest(self) -> None:
        # A crash mid-append leaves a final line without its newline; later appends must not
        # glue onto it. Its load never committed, so dropping it loses nothing.
        if not self.manifest_path.exists():
            return
        with open(self.manifest_path, "rb+") as fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)
                os.fsync(fh.fileno())

    def write_atomic(self, dest: Path, data: bytes) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".tmp-{dest.name}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)

    def commit(
        self,
        load_id: str,
        record: dict[str, Any],
        manifest_entries: list[dict],
        pending: list[str] | None = None,
    ) -> None:
        """Make a load visible: manifest lines first, then the commit record that validates them,
        then its pending Parquet files under their final names.

        Manifest lines of a load without a commit record are ignored, so a crash between the
        two steps loses nothing and double-counts nothing; `recover` finishes the renames.
        """
        if manifest_entries:
            with open(self.manifest_path, "ab") as fh:
                for entry in manifest_entries:
                    fh.write(orjson.dumps(entry) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        self.write_atomic(self.loads_dir / f"{load_id}.json", orjson.dumps(record))
        publish([Path(p) for p in pending or []])

    def manifest(self) -> dict[str, dict]:
        """Content hash ("<algorithm>:<hex>") -> entry of every source a committed load loaded."""
        out: dict[str, dict] = {}
        if not self.manifest_path.exists():
            return out
        committed = self.committed_load_ids()
        with open(self.manifest_path, "rb") as fh:
            for line in fh:
                entry = orjson.loads(line)
                if "hash" not in entry:  # written before hashes named their algorithm
                    entry["hash"] = "sha256:" + entry.pop("sha256")
                    entry["prefix_hash"] = "sha256:" + entry.pop("prefix_sha256")
                if entry["load_id"] in committed:
                    out.setdefault(entry["hash"], entry)
        return out

    def parquet_glob(self) -> str:
        return str(self.events_dir / "**" / "*.parquet")

    def has_events(self) -> bool:
        return any(self.events_dir.rglob("*.parquet"))


PENDING = ".pending"  # suffix of a Parquet file written but not yet committed


def publish(pending: list[Path]) -> None:
    """Rename committed pending files to their final `.parquet` names (a rename each)."""
    dirs = set()
    for p in pending:
        os.replace(p, p.with_name(p.name.removesuffix(PENDING)))
        dirs.add(p.parent)
    for d in dirs:
        fsync_dir(d)


def disk_error(exc: Exception) -> OSError:
    """DuckDB's or Arrow's I/O error as the OSError it stands for (ENOSPC: the disk is full)."""
    if isinstance(exc, OSError) and exc.errno:
        return exc
    text = str(exc)
    code = errno.ENOSPC if "No space left" in text or "disk is full" in text else errno.EIO
    return OSError(code, text)

"""The HTTP loader: `agentops-wh serve`, for producers that cannot drop files.

`POST /v1/events` takes one event, a JSON array of events or NDJSON, optionally gzip-encoded,
and checks every event with the file loader's validation core (`ingestion.contract`). A
batch is all or nothing (`400` lists every bad event with its index, reason code and
JSON-pointer paths) unless `?partial=true` keeps the valid ones (`207`). Valid events are
redacted, then appended and fsynced to the write-ahead log before the `202` (`ingestion.wal`);
the flusher turns the log into Parquet within seconds. Rejected events go to the quarantine
with source `http`, as the file loader's bad lines do.

Security: every request needs a bearer token (`agentops-wh token create`); the tenant comes
from the token, and a batch holding another tenant's event is refused whole (`403`). Bodies,
decompressed bodies (gzip bombs), events per request, bytes per event and JSON nesting depth
are limited. The logs pass through the same redactor as the lake.

Also: `GET /healthz`, `GET /metrics` (Prometheus), `GET /v1/budgets/check` (is an agent within
its `block` budgets, from the published warehouse) and OpenAPI at `/docs`.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import json
import logging
import math
import os
import re
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ingestion.contract import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_FUTURE_SKEW,
    DEFAULT_MIN_OCCURRED_AT,
    DUPLICATE_KEY,
    INVALID_JSON,
    NESTING_TOO_DEEP,
    NON_FINITE_NUMBER,
    OUT_OF_RANGE,
    FieldError,
    InvalidDocument,
    Rejection,
    ValidationConfig,
    ValidEvent,
    check_event,
    check_line,
    load_schema,
    parse_document,
)
from ingestion.http_limits import ClientSlots, TooManyInFlight, header_timeout_protocol, within
from ingestion.keys import tenant_key, tenant_key_sql
from ingestion.redaction import Redactor
from ingestion.settings import data_dir as default_data_dir
from ingestion.settings import warehouse_path
from ingestion.tokens import TokenError, TokenStore, tokens_path
from ingestion.wal import (
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_SEGMENT_BYTES,
    Flusher,
    WalInUse,
    WriteAheadLog,
    segment_event_ids,
)

log = logging.getLogger("agentops.server")

# Reason codes of the HTTP loader's own limits (the event rules' codes are the contract's).
EMPTY_BODY = "empty_body"
NOT_EVENTS = "not_events"

NDJSON_TYPES = {
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/jsonlines",
}
_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class ServerSettings:
    """Everything `serve` can tune; the defaults suit batches of a few thousand events."""

    data_dir: Path
    insecure_dev: bool = False
    max_body_bytes: int = 16 << 20  # as sent (compressed or not)
    max_decompressed_bytes: int = 64 << 20
    max_events: int = 10_000  # per request
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_depth: int = 32  # containers nested in one event (a valid event needs 3)
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW
    min_occurred_at: datetime = DEFAULT_MIN_OCCURRED_AT
    max_backlog_bytes: int = 512 << 20  # unflushed WAL bytes before 503
    min_free_bytes: int = 256 << 20  # free disk before 503
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    segment_bytes: int = DEFAULT_SEGMENT_BYTES
    dedupe_window_days: int = 35
    flush_in_process: bool = False
    max_concurrent: int = 8  # bodies judged at once (bounds CPU and memory); others wait
    body_timeout: float = 30.0  # seconds to receive a whole body, else 408
    header_timeout: float = 10.0  # seconds for a new connection to send its request headers
    max_per_client: int = 16  # requests in flight per token (per address without one)
    max_connections: int = 1024  # open connections in all; uvicorn answers 503 past it
    otlp_keep_other_spans: bool = False  # non-GenAI spans of /v1/traces as steps, not dropped

    def __post_init__(self) -> None:
        # orjson serialises at most 254 levels; the contract's parse needs to stay below that.
        if not 1 <= self.max_depth <= 128:
            raise ValueError("--max-depth must be between 1 and 128")

    @cached_property
    def validation(self) -> ValidationConfig:
        return ValidationConfig(self.max_event_bytes, self.max_future_skew, self.min_occurred_at)


class ApiError(Exception):
    """An answer other than the batch outcome: 401, 403, 413, 415, 503, or a body-level 400."""

    def __init__(
        self,
        status: int,
        reason_code: str,
        message: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(message)
        self.status = status
        self.reason_code = reason_code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {
            "status": "error",
            "reason_code": self.reason_code,
            "message": self.message,
            **self.extra,
        }


# --------------------------------------------------------------------------------------------
# Bodies: encoding, framing, depth (pure functions)


def decompress(body: bytes, encoding: str | None, cap: int) -> bytes:
    """Undo Content-Encoding, never producing more than `cap` bytes (gzip bombs stop early)."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "x-gzip"):
        raise ApiError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; send gzip or an uncompressed body",
        )
    out = bytearray()
    data = body
    while data:  # a gzip body may hold several members, one after the other
        d = zlib.decompressobj(wbits=31)
        try:
            while not d.eof:
                chunk = d.decompress(data, cap + 1 - len(out))  # max_length is >= 1 here
                out += chunk
                if len(out) > cap:
                    raise ApiError(
                        413,
                        "decompressed_too_large",
                        f"the gzip body inflates to more than {cap} bytes (the limit); "
                        "send smaller batches",
                    )
                data = d.unconsumed_tail
                if not chunk and not data:
                    break
        except zlib.error as exc:
            raise ApiError(400, "invalid_gzip", f"the body is not valid gzip ({exc})") from None
        if not d.eof:
            raise ApiError(400, "invalid_gzip", "the gzip body is truncated")
        data = d.unused_data
    return bytes(out)


def body_kind(content_type: str | None, body: bytes) -> str:
    """'json' (one event or an array) or 'ndjson', from Content-Type or, if absent, the body."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct in NDJSON_TYPES:
        return "ndjson"
    if ct == "application/json" or ct.endswith("+json"):
        return "json"
    if ct not in ("", "text/plain", "application/octet-stream"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {ct!r} is not supported; send application/json (an event or an "
            "array of events) or application/x-ndjson (one event per line)",
        )
    head = body.lstrip()[:1]
    if head == b"[":
        return "json"
    return "ndjson" if body.strip().count(b"\n") else "json"


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_PAIR = re.compile(rb"\[\]|\{\}")


def too_deep(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests containers deeper than `limit` (checked before parsing).

    With strings removed, each pass deletes the innermost bracket pairs, so `limit` passes
    delete every pair at most `limit` deep; a pair left for the next pass sits deeper.
    Brackets that never pair are not JSON: the parser reports those, unless there are more
    than `limit` of them (so no parser ever recurses deeply). C-speed regex passes only.
    """
    s = _NOT_BRACKET.sub(b"", _STRING.sub(b"", raw))
    for _ in range(limit):
        if not s:
            return False
        s, n = _PAIR.subn(b"", s)
        if n == 0:
            break
    if not s:
        return False
    if _PAIR.search(s):
        return True
    return s.count(b"[") + s.count(b"{") > limit


def _depth_rejection(limit: int) -> Rejection:
    msg = f"JSON nested deeper than {limit} levels (the limit); events are at most 3 deep"
    return Rejection(NESTING_TOO_DEEP, (FieldError("", msg),))


_WS = re.compile(r"[ \t\n\r]*")


def _array_spans(text: str) -> list[bytes] | None:
    """The text of each element of a JSON array, or None if it is not one."""
    dec = json.JSONDecoder()
    i = _WS.match(text, 1).end()
    spans: list[bytes] = []
    if text[i : i + 1] == "]":
        return spans if _WS.match(text, i + 1).end() == len(text) else None
    while True:
        try:
            _, end = dec.raw_decode(text, i)
        except (ValueError, RecursionError):
            return None
        spans.append(text[i:end].encode())
        i = _WS.match(text, end).end()
        if text[i : i + 1] == ",":
            i = _WS.match(text, i + 1).end()
            continue
        if text[i : i + 1] == "]" and _WS.match(text, i + 1).end() == len(text):
            return spans
        return None


@dataclass
class Item:
    """One event of a request: where it was, its text, and the validation verdict."""

    index: int
    line_no: int  # 1-based: line of an NDJSON body, element of an array
    raw: bytes
    result: ValidEvent | Rejection
    obj: Any = None  # the parsed value, when the fast path had it

    def tenant_id(self) -> str | None:
        obj = self.result.event if isinstance(self.result, ValidEvent) else self.obj
        if obj is None:
            try:
                obj = orjson.loads(self.raw)
            except orjson.JSONDecodeError:
                return None
        tenant = obj.get("tenant") if isinstance(obj, dict) else None
        tid = tenant.get("tenant_id") if isinstance(tenant, dict) else None
        return tid if isinstance(tid, str) else None


def _too_many(n: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "too_many_events",
        f"{n} events in one request; the limit is {limit}: split the batch",
    )


def split_and_check(body: bytes, kind: str, now: datetime, settings: ServerSettings) -> list[Item]:
    """Every event of a body with its verdict from the shared validation core."""
    if kind == "ndjson":
        return _ndjson_items(body, now, settings)
    text = body.strip()
    if not text:
        raise ApiError(400, EMPTY_BODY, "the body holds no event; send an event or an array")
    if text[:1] != b"[":
        return [Item(0, 1, text, _check_line(text, now, settings))]
    limit = settings.max_depth
    try:
        doc = parse_document(text)
    except InvalidDocument as exc:
        return _array_fallback(text, exc.rejection, now, settings)
    except (TypeError, RecursionError):  # orjson's and json's own recursion limits
        raise ApiError(400, NESTING_TOO_DEEP, _depth_rejection(limit).errors[0].message) from None
    if not isinstance(doc, list):
        raise ApiError(400, NOT_EVENTS, "expected an event object, an array of events, or NDJSON")
    if len(doc) > settings.max_events:
        raise _too_many(len(doc), settings.max_events)
    config = settings.validation
    items = []
    for i, obj in enumerate(doc):
        try:
            raw = orjson.dumps(obj)
        except TypeError:  # deeper than orjson writes (254 levels)
            items.append(Item(i, i + 1, b"", _depth_rejection(limit), obj))
            continue
        res = check_event(obj, now, config, len(raw))
        if type(res) is ValidEvent:
            if not res.raw:
                res.raw = raw
        elif _deeper_than(obj, limit):  # valid events are shallow: only rejects can be deep
            res = _depth_rejection(limit)
        items.append(Item(i, i + 1, raw, res, obj))
    return items


def _array_fallback(
    text: bytes, rej: Rejection, now: datetime, settings: ServerSettings
) -> list[Item]:
    """An array the strict parse refused: judge each element on its own text, if possible."""
    # A rule broken inside one element (duplicate key, NaN): the other elements may be fine.
    if rej.reason_code in (DUPLICATE_KEY, NON_FINITE_NUMBER, OUT_OF_RANGE):
        spans = _array_spans(text.decode("utf-8"))
        if spans is not None:
            if len(spans) > settings.max_events:
                raise _too_many(len(spans), settings.max_events)
            return [
                Item(i, i + 1, span, _check_line(span, now, settings))
                for i, span in enumerate(spans)
            ]
    message = rej.errors[0].message if rej.errors else rej.reason_code
    if rej.reason_code == INVALID_JSON and text.count(b"\n"):
        message += "; for one event per line send Content-Type: application/x-ndjson"
    raise ApiError(
        400,
        rej.reason_code,
        message,
        errors=[e.as_dict() for e in rej.errors],
        raw_for_quarantine=text,
    )


def _check_line(raw: bytes, now: datetime, settings: ServerSettings) -> ValidEvent | Rejection:
    """`check_line` behind the nesting limit (its parser must never recurse deeply)."""
    limit = settings.max_depth
    # A line cannot nest deeper than it has brackets: the exact check runs on few lines.
    if raw.count(b"{") + raw.count(b"[") > limit and too_deep(raw, limit):
        return _depth_rejection(limit)
    try:
        return check_line(raw, now, settings.validation)
    except (TypeError, RecursionError):  # orjson's and json's own recursion limits
        return _depth_rejection(limit)


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if type(node) is dict:
            children = node.values()
        elif type(node) is list:
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if type(c) in (dict, list))
    return False


def _ndjson_items(body: bytes, now: datetime, settings: ServerSettings) -> list[Item]:
    lines = body.split(b"\n")
    count = sum(1 for line in lines if line.strip())
    if count == 0:
        raise ApiError(400, EMPTY_BODY, "the body holds no event; send one JSON event per line")
    if count > settings.max_events:
        raise _too_many(count, settings.max_events)
    items: list[Item] = []
    for n, line in enumerate(lines, 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            continue
        items.append(Item(len(items), n, line, _check_line(line, now, settings)))
    return items


# --------------------------------------------------------------------------------------------
# Metrics


_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """Counters for /metrics (Prometheus text format, written by hand: no extra dependency)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    latency: dict[str, list[int]] = field(default_factory=dict)  # route -> bucket counts + inf
    latency_sum: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[(route, status)] += 1
            counts = self.latency.setdefault(route, [0] * (len(_BUCKETS) + 1))
            for i, le in enumerate(_BUCKETS):
                if seconds <= le:
                    counts[i] += 1
            counts[-1] += 1
            self.latency_sum[route] += seconds

    def render(
        self, gauges: dict[str, tuple[str, float]], counters: dict[str, tuple[str, float]]
    ) -> str:
        out: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                v = repr(float(value)) if isinstance(value, float) else str(value)
                out.append(f"{name}{labels} {v}")

        with self.lock:
            metric(
                "agentops_http_events_accepted_total",
                "counter",
                "Events written to the write-ahead log (durable) by the HTTP loader.",
                [("", self.accepted)],
            )
            metric(
                "agentops_http_events_duplicate_total",
                "counter",
                "Events whose event_id was already accepted (answered 2xx, not stored again).",
                [("", self.duplicates)],
            )
            metric(
                "agentops_http_events_rejected_total",
                "counter",
                "Events refused by validation, by reason code (kept in the quarantine).",
                [(f'{{reason_code="{k}"}}', v) for k, v in sorted(self.rejected.items())],
            )
            metric(
                "agentops_http_requests_total",
                "counter",
                "HTTP requests by route and status code.",
                [
                    (f'{{route="{r}",status="{s}"}}', v)
                    for (r, s), v in sorted(self.requests.items())
                ],
            )
            name = "agentops_http_request_duration_seconds"
            out.append(f"# HELP {name} Request latency, from first byte read to answer.")
            out.append(f"# TYPE {name} histogram")
            for route, counts in sorted(self.latency.items()):
                for le, c in zip([*map(str, _BUCKETS), "+Inf"], counts, strict=True):
                    out.append(f'{name}_bucket{{route="{route}",le="{le}"}} {c}')
                out.append(f'{name}_sum{{route="{route}"}} {self.latency_sum[route]!r}')
                out.append(f'{name}_count{{route="{route}"}} {counts[-1]}')
        for name, (help_, value) in gauges.items():
            metric(name, "gauge", help_, [("", value)])
        for name, (help_, value) in counters.items():
            metric(name, "counter", help_, [("", value)])
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Budgets


class BudgetReader:
    """Current-period budget rows of the published warehouse, re-read when a new one appears.

    Opens the warehouse read-only for one query and closes it at once (a held connection
    would get in the way of publishing); the rows are kept until the file changes.
    """

    COLUMNS = (
        "budget_id, tenant_id, scope, scope_id, period, period_start, period_end, as_of, "
        "limit_usd, spend_usd, pct_used, is_over_limit, forecast_usd, enforcement"
    )

    def __init__(self, path: Path):
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._rows: list[dict[str, Any]] = []
        self._note: str | None = None
        self._lock = threading.Lock()

    def rows(self) -> tuple[list[dict[str, Any]], str | None]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return [], "no warehouse published yet"
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if signature != self._signature:
                self._rows, self._note = self._read()
                self._signature = signature
            return self._rows, self._note

    def _read(self) -> tuple[list[dict[str, Any]], str | None]:
        import duckdb

        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise ApiError(
                503,
                "warehouse_unavailable",
                f"the published warehouse cannot be opened right now ({exc}); retry shortly",
                headers={"Retry-After": "2"},
            ) from None
        try:
            cur = con.execute(
                f"SELECT {self.COLUMNS} FROM marts.budget_status WHERE period_kind = 'current'"
                " ORDER BY tenant_id, budget_id"
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()], None
        except duckdb.CatalogException:
            return [], "the published warehouse has no marts.budget_status yet"
        finally:
            con.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):  # money as an exact string, without trailing zeros
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def budget_decision(
    rows: list[dict[str, Any]], tenant_id: str, scopes: dict[str, str | None], now: datetime
) -> dict[str, Any]:
    """Whether a caller is within its `block` budgets: the pure part of /v1/budgets/check.

    Only budgets of `tenant_id` are looked at: scope ids are per tenant, and another tenant's
    budget on a project of the same name is none of the caller's business.
    """
    matching = []
    for row in rows:
        if row["tenant_id"] != tenant_id:
            continue
        if row["scope"] == "tenant":
            pass  # a tenant budget covers every call of its tenant
        elif scopes.get(row["scope"]) is None or row["scope_id"] != scopes[row["scope"]]:
            continue
        end = row["period_end"]
        stale = end is not None and end.astimezone(UTC) <= now
        matching.append({**{k: _jsonable(v) for k, v in row.items()}, "is_stale": stale})
    blocking = [
        b
        for b in matching
        if b["enforcement"] == "block" and b["is_over_limit"] and not b["is_stale"]
    ]
    return {
        "allowed": not blocking,
        "blocking": [b["budget_id"] for b in blocking],
        "as_of": _jsonable(rows[0]["as_of"]) if rows else None,
        "budgets": matching,
    }


# --------------------------------------------------------------------------------------------
# The loader's state


class Ingestor:
    """Validates, deduplicates and durably stores batches; owns the WAL and the flusher."""

    def __init__(self, settings: ServerSettings, redactor: Redactor | None = None):
        self.settings = settings
        self.redactor = redactor or Redactor.from_env()
        base = settings.data_dir
        self.wal = WriteAheadLog(base / "wal", settings.segment_bytes, settings.flush_interval)
        self.flusher = Flusher(
            self.wal,
            base,
            settings.validation,
            settings.flush_interval,
            in_process=settings.flush_in_process,
        )
        self.tokens = TokenStore(tokens_path(base))
        self.budgets = BudgetReader(warehouse_path(base))
        self.metrics = Metrics()
        # tenant_key(tenant, event_id) of accepted events -> event day (for pruning). Keyed by
        # tenant too: one tenant must neither suppress nor detect another tenant's event ids.
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pruned_at = time.monotonic()
        self._leftovers: list[Path] | None = None
        # More counters for /metrics, from other front doors (ingestion.otlp.route).
        self.counter_sources: list[Callable[[], dict[str, tuple[str, float]]]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def claim(self) -> None:
        """Take the WAL directory (raises WalInUse if another server has it)."""
        if self._leftovers is None:
            self._leftovers = self.wal.open()

    def start(self) -> None:
        self.claim()
        leftovers = self._leftovers or []
        self.redactor.candidates([b"warm-up"])  # first use imports Arrow's compute kernels
        cutoff = self._cutoff_day()
        self._ids = _lake_event_ids(self.settings.data_dir, cutoff)
        for seg in leftovers:
            for tenant_id, event_id, occurred_at in segment_event_ids(seg):
                self._ids[tenant_key(tenant_id, event_id)] = _day_of(occurred_at)
        if leftovers:
            log.info("%d WAL segment(s) left by the last run: flushing them first", len(leftovers))
        log.info("duplicate detection primed with %d event ids", len(self._ids))
        self.flusher.start()
        self.flusher.wake()

    def stop(self) -> None:
        self.flusher.stop()
        self.wal.close()

    def _cutoff_day(self) -> int:
        return (datetime.now(UTC) - timedelta(days=self.settings.dedupe_window_days)).toordinal()

    # -- requests ----------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> str | None:
        """The token's tenant (None when running --insecure-dev), else 401."""
        if self.settings.insecure_dev:
            return None
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "missing_token",
                "send a bearer token: Authorization: Bearer aow_... "
                "(create one with `agentops-wh token create --tenant T`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            record = self.tokens.authenticate(token.strip())
        except TokenError as exc:
            log.error("%s", exc)
            raise ApiError(
                503,
                "token_store_unreadable",
                "the loader cannot read its tokens; tell the operator",
            ) from None
        if record is None:
            raise ApiError(
                401,
                "invalid_token",
                "the bearer token is unknown or revoked; check it, or create a new one",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return record.tenant_id

    def check_capacity(self) -> None:
        """503 when the backlog or the disk says the loader cannot take more right now."""
        backlog = self.wal.backlog_bytes
        if backlog > self.settings.max_backlog_bytes:
            raise ApiError(
                503,
                "backlog_full",
                f"{backlog} bytes are waiting to be flushed to the lake (limit "
                f"{self.settings.max_backlog_bytes}); retry after the Retry-After delay",
                headers={"Retry-After": "2"},
            )
        free = self.wal.free_bytes()
        if free < self.settings.min_free_bytes:
            raise ApiError(
                503,
                "disk_full",
                f"only {free} bytes free under {self.settings.data_dir} (limit "
                f"{self.settings.min_free_bytes}); the operator must free space",
                headers={"Retry-After": "30"},
            )

    def ingest(
        self, body: bytes, content_type: str | None, tenant: str | None, partial: bool
    ) -> tuple[int, dict[str, Any]]:
        """Judge a whole body and store what may be stored; returns (status, answer)."""
        now = datetime.now(UTC)
        kind = body_kind(content_type, body)
        try:
            items = split_and_check(body, kind, now, self.settings)
        except ApiError as exc:
            raw = exc.extra.pop("raw_for_quarantine", None)
            if exc.status == 400:
                self._quarantine_document(raw or body, exc)
            raise
        if tenant is not None:
            others = [(it.index, t) for it in items if (t := it.tenant_id()) not in (None, tenant)]
            if others:
                raise ApiError(
                    403,
                    "tenant_mismatch",
                    f"this token may only post events of tenant {tenant!r}; "
                    f"{len(others)} event(s) carry another tenant.tenant_id; nothing was stored",
                    indexes=[i for i, _ in others[:100]],
                )
        valid = [it for it in items if type(it.result) is ValidEvent]
        rejected = [it for it in items if type(it.result) is Rejection]
        if rejected:
            self._quarantine(rejected)
        if rejected and not (partial and valid):
            answer = self._answer("rejected", items, rejected, 0, 0)
            answer["message"] = (
                f"{len(rejected)} of {len(items)} event(s) are invalid; nothing was stored. "
                + ("" if partial else "Fix them, or send ?partial=true to keep the valid ones. ")
                + "The invalid events are in the quarantine."
            )
            return 400, answer
        accepted, duplicates = self._store(valid)
        status = 207 if rejected else 202
        return status, self._answer(
            "partial" if rejected else "accepted", items, rejected, accepted, duplicates
        )

    def _answer(
        self, status: str, items: list[Item], rejected: list[Item], accepted: int, dups: int
    ) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "status": status,
            "received": len(items),
            "accepted": accepted,
            "duplicates": dups,
            "rejected": len(rejected),
        }
        if rejected:
            redact = self.redactor.redact_text
            answer["errors"] = [
                {
                    "index": it.index,
                    "line_no": it.line_no,
                    "event_id": redact(it.result.event_id) if it.result.event_id else None,
                    "reason_code": it.result.reason_code,
                    "errors": [
                        {"path": e.path, "message": redact(e.message)} for e in it.result.errors
                    ],
                }
                for it in rejected
            ]
        return answer

    def _store(self, valid: list[Item]) -> tuple[int, int]:
        """Append new events to the WAL (fsynced); returns (accepted, duplicates)."""
        if not valid:
            return 0, 0
        redactor = self.redactor
        prepared: list[tuple[str, int, bytes]] = []
        candidates = redactor.candidates([it.result.raw or it.raw for it in valid])  # type: ignore[union-attr]
        for it, maybe in zip(valid, candidates, strict=True):
            ve = it.result
            assert isinstance(ve, ValidEvent)
            if maybe and (redacted := redactor.redact_event(ve.event)) is not ve.event:
                ve.replace_event(redacted)
            line = ve.raw or it.raw
            if b"\n" in line:  # a pretty-printed event: one line per event in the log
                line = orjson.dumps(ve.event)
            day = ve.timestamps_us[("occurred_at",)] // _DAY_US + _EPOCH_ORDINAL
            key = tenant_key(ve.event["tenant"]["tenant_id"], ve.event["event_id"])
            prepared.append((key, day, line))
        with self._lock:
            fresh: dict[str, int] = {}
            lines: list[bytes] = []
            for key, day, line in prepared:
                if key in self._ids or key in fresh:
                    continue
                fresh[key] = day
                lines.append(line)
            if lines:
                try:
                    self.wal.append(b"\n".join(lines) + b"\n")
                except OSError as exc:
                    log.error("WAL append failed: %s", exc)
                    raise ApiError(
                        503,
                        "wal_write_failed",
                        f"the loader could not write to disk ({exc.strerror}); nothing of this "
                        "batch was stored; retry later",
                        headers={"Retry-After": "10"},
                    ) from None
                self._ids.update(fresh)
            if time.monotonic() - self._pruned_at > 3600:
                self._prune()
        accepted, duplicates = len(lines), len(prepared) - len(lines)
        with self.metrics.lock:
            self.metrics.accepted += accepted
            self.metrics.duplicates += duplicates
        return accepted, duplicates

    def _prune(self) -> None:
        cutoff = self._cutoff_day()
        self._ids = {k: d for k, d in self._ids.items() if d >= cutoff}
        self._pruned_at = time.monotonic()

    def store_and_quarantine(
        self, valid: list[Item], rejected: list[tuple[int, bytes, Rejection]], source: str
    ) -> tuple[int, int]:
        """For other front doors (OTLP): quarantine what they refused, then store the valid
        events like `ingest` does; returns (accepted, duplicates)."""
        if rejected:
            self._write_quarantine(rejected, source)
            with self.metrics.lock:
                for _, _, rej in rejected:
                    self.metrics.rejected[rej.reason_code] += 1
        return self._store(valid)

    def _write_quarantine(
        self, recs: list[tuple[int, bytes, Rejection]], source: str = "http"
    ) -> None:
        """Quarantine rejected input; a full disk is a 503 (nothing of the batch stored)."""
        from ingestion.quarantine import write_quarantine

        try:
            write_quarantine(recs, source, self.settings.data_dir, redactor=self.redactor)
        except OSError as exc:
            log.error("quarantine write failed: %s", exc)
            raise ApiError(
                503,
                "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "write_failed",
                f"the loader could not write its quarantine ({exc.strerror}); nothing of this "
                "batch was stored; the operator must free space, then retry",
                headers={"Retry-After": "30"},
            ) from None

    def _quarantine(self, rejected: list[Item]) -> None:
        recs = [(it.line_no, it.raw, it.result) for it in rejected]
        self._write_quarantine(recs)  # type: ignore[arg-type]
        with self.metrics.lock:
            for it in rejected:
                self.metrics.rejected[it.result.reason_code] += 1  # type: ignore[union-attr]

    def _quarantine_document(self, raw: bytes, exc: ApiError) -> None:
        """A body that is not events at all is still kept (it is what was not loaded)."""
        if not raw.strip():
            return
        errors = exc.extra.get("errors") or [{"path": "", "message": exc.message}]
        rej = Rejection(exc.reason_code, tuple(FieldError(e["path"], e["message"]) for e in errors))
        self._write_quarantine([(1, raw, rej)])
        with self.metrics.lock:
            self.metrics.rejected[exc.reason_code] += 1

    # -- status ------------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        problems = []
        lake_dir = self.settings.data_dir / "lake"
        probe = lake_dir / f".healthz-{os.getpid()}"
        try:
            lake_dir.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
            writable = True
        except OSError as exc:
            writable = False
            problems.append(f"lake not writable: {exc.strerror}")
        st = self.flusher.stats
        if st.consecutive_failures:
            problems.append(f"flusher failing: {st.last_error}")
        free = self.wal.free_bytes()
        if free < self.settings.min_free_bytes:
            problems.append(f"disk nearly full: {free} bytes free")
        ok = not problems
        return ok, {
            "status": "ok" if ok else "degraded",
            "lake_writable": writable,
            "problems": [self.redactor.redact_text(p) for p in problems],
            "wal_backlog_bytes": self.wal.backlog_bytes,
            "wal_backlog_segments": self.wal.backlog_segments,
            "last_flush_at": _jsonable(
                datetime.fromtimestamp(st.last_flush_at, UTC) if st.last_flush_at else None
            ),
            "auth": "disabled (--insecure-dev)" if self.settings.insecure_dev else "bearer",
        }

    def metrics_text(self) -> str:
        st = self.flusher.stats
        gauges = {
            "agentops_wal_backlog_bytes": (
                "Bytes accepted but not yet in the lake.",
                self.wal.backlog_bytes,
            ),
            "agentops_wal_backlog_segments": (
                "WAL segments not yet in the lake.",
                self.wal.backlog_segments,
            ),
            "agentops_wal_last_flush_timestamp_seconds": (
                "Unix time of the last successful flush (0: none yet).",
                float(st.last_flush_at or 0.0),
            ),
            "agentops_dedupe_event_ids": (
                "Event ids remembered for duplicate detection.",
                len(self._ids),
            ),
        }
        counters = {
            "agentops_wal_flushed_events_total": ("Events flushed into the lake.", st.events),
            "agentops_wal_flushes_total": ("Successful flushes.", st.flushes),
            "agentops_wal_flush_failures_total": ("Failed flushes (retried).", st.failures),
        }
        for source in self.counter_sources:
            counters.update(source())
        return self.metrics.render(gauges, counters)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _day_of(occurred_at: str) -> int:
    try:
        return datetime.fromisoformat(occurred_at).astimezone(UTC).toordinal()
    except ValueError:
        return datetime.now(UTC).toordinal()


def _lake_event_ids(base: Path, cutoff_day: int) -> dict[str, int]:
    """tenant_key -> day of every event in the lake's partitions since `cutoff_day`."""
    import duckdb

    from ingestion.lake import Lake

    lake = Lake(base)
    with lake.locked():  # no half-written file of a running load can be read
        files: list[str] = []
        for part in sorted(lake.events_dir.glob("event_date=*")):
            try:
                day = date.fromisoformat(part.name.split("=", 1)[1]).toordinal()
            except ValueError:
                continue
            if day >= cutoff_day:
                files += [str(p) for p in part.glob("*.parquet") if not p.name.startswith(".")]
        if not files:
            return {}
        con = duckdb.connect()
        try:
            table = con.execute(
                f"SELECT {tenant_key_sql('tenant.tenant_id', 'event_id')} AS key, "
                "CAST(epoch(occurred_at) // 86400 AS BIGINT) AS day FROM read_parquet(?)",
                [files],
            ).to_arrow_table()
        finally:
            con.close()
    ids = table.column("key").to_pylist()
    days = [d + _EPOCH_ORDINAL for d in table.column("day").to_pylist()]
    return dict(zip(ids, days, strict=True))


# --------------------------------------------------------------------------------------------
# The app


def _event_request_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The event JSON Schema as OpenAPI components (its $defs hoisted, refs rewritten)."""
    schema = json.loads(json.dumps(load_schema()))
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    text = json.dumps({"AgentEvent": schema, **{f"AgentEvent_{k}": v for k, v in defs.items()}})
    text = text.replace('"#/$defs/', '"#/components/schemas/AgentEvent_')
    components = json.loads(text)
    ref = {"$ref": "#/components/schemas/AgentEvent"}
    body = {
        "required": True,
        "description": "One event, a JSON array of events, or NDJSON (one event per line). "
        "Content-Encoding: gzip is accepted.",
        "content": {
            "application/json": {"schema": {"oneOf": [ref, {"type": "array", "items": ref}]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
    return components, body


def create_app(settings: ServerSettings) -> FastAPI:
    """The FastAPI app over one data directory (state starts and stops with the app)."""
    ingestor = Ingestor(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ingestor.start)
        try:
            yield
        finally:
            await run_in_threadpool(ingestor.stop)

    app = FastAPI(
        title="AgentOps Warehouse HTTP loader",
        version="0",
        description="Post agent telemetry events (schema `agent-event-v0`) into the lake.",
        lifespan=lifespan,
    )
    app.state.ingestor = ingestor
    components, request_body = _event_request_schema()
    slots = asyncio.Semaphore(settings.max_concurrent)
    per_client = ClientSlots(settings.max_per_client)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _json(exc.payload(), exc.status, exc.headers)

    app.add_middleware(_Observe, metrics=ingestor.metrics)

    @app.post(
        "/v1/events",
        status_code=202,
        summary="Post events",
        tags=["ingest"],
        openapi_extra={"requestBody": request_body},
        responses={
            202: {"description": "All events valid and durably stored (or already stored)."},
            207: {"description": "?partial=true: valid events stored, the others listed."},
            400: {"description": "Invalid events, listed with index, reason code and paths."},
            401: {"description": "Missing, unknown or revoked bearer token."},
            403: {"description": "An event belongs to another tenant than the token's."},
            413: {"description": "Body, decompressed body or event count over the limit."},
            503: {"description": "Backlog or disk over the limit: retry after Retry-After."},
        },
    )
    async def post_events(
        request: Request,
        partial: bool = Query(False, description="store the valid events of a mixed batch"),
    ) -> Response:
        """Validate a batch and store it durably (fsynced) before answering."""
        content_type = request.headers.get("content-type")

        def handle(body: bytes, tenant: str | None) -> Response:
            status, answer = ingestor.ingest(body, content_type, tenant, partial)
            return _json(answer, status)

        return await receive(request, handle)

    async def receive(
        request: Request, handle: Callable[[bytes, str | None], Response]
    ) -> Response:
        """What every ingest route shares: the token, capacity, per-client and body limits,
        gzip; then `handle(body, tenant)` in a worker thread."""
        tenant = ingestor.authenticate(request.headers.get("authorization"))
        ingestor.check_capacity()
        client = (
            f"tenant:{tenant}"
            if tenant is not None
            else (request.client.host if request.client else "-")
        )
        try:
            async with per_client.hold(client):
                # A slow body is read outside `slots`: it keeps no other client waiting.
                body = await within(
                    settings.body_timeout, _read_body(request, settings.max_body_bytes)
                )
                return await judge(request, body, tenant, handle)
        except TooManyInFlight:
            raise ApiError(
                429,
                "too_many_requests",
                f"this client already has {settings.max_per_client} requests in flight (the "
                "limit); wait for their answers",
                headers={"Retry-After": "1"},
            ) from None
        except TimeoutError:
            raise ApiError(
                408,
                "body_timeout",
                f"the body did not arrive within {settings.body_timeout:g} s; send it at once",
                headers={"Connection": "close"},
            ) from None

    async def judge(
        request: Request, body: bytes, tenant: str | None, handle: Callable[..., Response]
    ) -> Response:
        async with slots:
            encoding = request.headers.get("content-encoding")
            if encoding and encoding.strip().lower() not in ("identity", ""):
                body = await run_in_threadpool(
                    decompress, body, encoding, settings.max_decompressed_bytes
                )
            elif len(body) > settings.max_decompressed_bytes:
                raise ApiError(
                    413,
                    "body_too_large",
                    f"the body exceeds {settings.max_decompressed_bytes} bytes",
                )
            return await run_in_threadpool(handle, body, tenant)

    from ingestion.otlp.route import add_traces_route

    add_traces_route(app, ingestor, receive)

    @app.get("/v1/budgets/check", tags=["budgets"], summary="Is an agent within its budgets?")
    async def budgets_check(
        request: Request,
        tenant_id: str | None = Query(None, description="defaults to the token's tenant"),
        workspace_id: str | None = None,
        project_id: str | None = None,
        agent_id: str | None = None,
    ) -> Response:
        """`allowed` is false when a `block`-enforced budget of this tenant, workspace, project
        or agent is over its limit in the current period, as of the last published build."""
        tenant = ingestor.authenticate(request.headers.get("authorization"))
        tenant_id = tenant_id or tenant
        if tenant_id is None:
            raise ApiError(
                400,
                "missing_tenant",
                "this server runs without tokens (--insecure-dev), so it cannot tell whose "
                "budgets to check: pass ?tenant_id=<tenant> (budgets and their scope ids are "
                "per tenant)",
            )
        if tenant is not None and tenant_id != tenant:
            raise ApiError(
                403, "tenant_mismatch", f"this token may only check budgets of tenant {tenant!r}"
            )
        rows, note = await run_in_threadpool(ingestor.budgets.rows)
        scopes = {"workspace": workspace_id, "project": project_id, "agent": agent_id}
        answer = budget_decision(rows, tenant_id, scopes, datetime.now(UTC))
        if note:
            answer["note"] = note
        return _json(answer)

    @app.get("/healthz", tags=["operations"], summary="Liveness and whether the lake is writable")
    async def healthz() -> Response:
        ok, answer = await run_in_threadpool(ingestor.health)
        return _json(answer, 200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            ingestor.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            spec.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class _Observe:
    """ASGI middleware: request count and latency per route and status, for /metrics."""

    ROUTES = frozenset({"/v1/events", "/v1/traces", "/v1/budgets/check", "/healthz", "/metrics"})

    def __init__(self, app: Any, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route = scope["path"] if scope["path"] in self.ROUTES else "other"
            self.metrics.observe(route, status, time.perf_counter() - started)


def _json(answer: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None):
    return Response(
        orjson.dumps(answer), status_code=status, headers=headers, media_type="application/json"
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413, "body_too_large", f"the body is {declared} bytes; the limit is {limit}: split it"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, "body_too_large", f"the body exceeds {limit} bytes (the limit): split it"
            )
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------
# Logging: everything the server writes goes through the redactor


class RedactingStreamHandler(logging.StreamHandler):
    """A stream handler whose every line (access log included) is redacted before writing."""

    redactor = Redactor.from_env()

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.redact_text(super().format(record))


def log_config(access_log: bool = True) -> dict[str, Any]:
    handler = "ingestion.server.RedactingStreamHandler"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(asctime)s %(levelprefix)s %(name)s: %(message)s",
                "use_colors": False,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(asctime)s %(levelprefix)s %(client_addr)s "%(request_line)s" '
                "%(status_code)s",
                "use_colors": False,
            },
        },
        "handlers": {
            "default": {"class": handler, "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {"class": handler, "formatter": "access", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["access"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
            "agentops": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }


# --------------------------------------------------------------------------------------------
# Command line


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _settings_from_args(args: argparse.Namespace, base: Path) -> ServerSettings:
    return ServerSettings(
        data_dir=base,
        insecure_dev=args.insecure_dev,
        max_body_bytes=args.max_body_bytes,
        max_decompressed_bytes=args.max_decompressed_bytes,
        max_events=args.max_events,
        max_event_bytes=args.max_event_bytes,
        max_depth=args.max_depth,
        max_future_skew=timedelta(seconds=args.max_future_skew),
        min_occurred_at=args.min_occurred_at,
        max_backlog_bytes=args.max_backlog_bytes,
        min_free_bytes=args.min_free_bytes,
        flush_interval=args.flush_interval,
        segment_bytes=args.segment_bytes,
        dedupe_window_days=args.dedupe_window_days,
        body_timeout=args.body_timeout,
        header_timeout=args.header_timeout,
        max_per_client=args.max_per_client,
        max_connections=args.max_connections,
        otlp_keep_other_spans=args.otlp_keep_other_spans,
    )


def _active_tokens(base: Path) -> int:
    try:
        return TokenStore(tokens_path(base)).active_count()
    except TokenError as exc:
        print(f"agentops-wh serve: error: {exc}", file=sys.stderr)
        return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    base = default_data_dir()
    err = sys.stderr
    try:
        settings = _settings_from_args(args, base)
    except ValueError as exc:
        print(f"agentops-wh serve: error: {exc}", file=err)
        return 2
    if args.insecure_dev:
        if not _is_loopback(args.host):
            print(
                f"agentops-wh serve: error: --insecure-dev turns authentication off; it only "
                f"binds to a loopback address, not {args.host}",
                file=err,
            )
            return 2
        print("agentops-wh serve: WARNING: --insecure-dev: no authentication", file=err)
    elif _active_tokens(base) == 0:
        print(
            f"agentops-wh serve: error: no active token in {tokens_path(base)}; create one with "
            "`agentops-wh token create --tenant T` (or pass --insecure-dev for local "
            "development without authentication)",
            file=err,
        )
        return 2
    app = create_app(settings)
    ingestor: Ingestor = app.state.ingestor
    # Fork the flusher's child first: before uvicorn starts threads (a fork is then safe and
    # cheap), and before the WAL lock is taken (a child must not inherit it).
    ingestor.flusher.prestart()
    try:
        ingestor.claim()
    except WalInUse as exc:
        print(f"agentops-wh serve: error: {exc}", file=err)
        return 2
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=log_config(not args.no_access_log),
        timeout_graceful_shutdown=30,
        timeout_keep_alive=5,
        limit_concurrency=settings.max_connections,
        http=header_timeout_protocol(settings.header_timeout),
    )
    return 0


def register(sub: Any) -> None:
    d = ServerSettings(data_dir=Path("."))
    p = sub.add_parser(
        "serve",
        help="the HTTP loader: POST /v1/events, /healthz, /metrics, OpenAPI at /docs",
        description="Serve the HTTP loader over $AGENTOPS_DATA_DIR. Needs at least one token "
        "(`agentops-wh token create --tenant T`) unless --insecure-dev.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument(
        "--insecure-dev",
        action="store_true",
        help="no authentication, any tenant (loopback only; for local development)",
    )
    p.add_argument("--no-access-log", action="store_true", help="do not log each request")
    limits = p.add_argument_group("limits")
    limits.add_argument(
        "--max-body-bytes",
        type=int,
        default=d.max_body_bytes,
        help="as sent (default: %(default)s)",
    )
    limits.add_argument(
        "--max-decompressed-bytes",
        type=int,
        default=d.max_decompressed_bytes,
        help="after gzip (default: %(default)s)",
    )
    limits.add_argument(
        "--max-events", type=int, default=d.max_events, help="per request (default: %(default)s)"
    )
    limits.add_argument(
        "--max-event-bytes", type=int, default=d.max_event_bytes, help="(default: %(default)s)"
    )
    limits.add_argument(
        "--max-depth", type=int, default=d.max_depth, help="JSON nesting (default: %(default)s)"
    )
    limits.add_argument(
        "--max-future-skew", type=float, default=300.0, help="seconds (default: %(default)s)"
    )
    from ingestion.loader import add_min_occurred_at

    add_min_occurred_at(limits)
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=d.body_timeout,
        help="seconds a client may take to send a body, else 408 (default: %(default)s)",
    )
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=d.header_timeout,
        help="seconds a new connection may take to send its headers (default: %(default)s)",
    )
    limits.add_argument(
        "--max-per-client",
        type=int,
        default=d.max_per_client,
        help="requests in flight per token, or per address without one; more get 429 "
        "(default: %(default)s)",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=d.max_connections,
        help="open connections in all; uvicorn answers 503 past it (default: %(default)s)",
    )
    limits.add_argument(
        "--max-backlog-bytes",
        type=int,
        default=d.max_backlog_bytes,
        help="unflushed WAL bytes before answering 503 (default: %(default)s)",
    )
    limits.add_argument(
        "--min-free-bytes",
        type=int,
        default=d.min_free_bytes,
        help="free disk below which the loader answers 503 (default: %(default)s)",
    )
    wal = p.add_argument_group("write-ahead log")
    wal.add_argument(
        "--flush-interval",
        type=float,
        default=d.flush_interval,
        help="seconds between flushes into the lake (default: %(default)s)",
    )
    wal.add_argument(
        "--segment-bytes",
        type=int,
        default=d.segment_bytes,
        help="rotate a WAL segment at this size (default: %(default)s)",
    )
    wal.add_argument(
        "--dedupe-window-days",
        type=int,
        default=d.dedupe_window_days,
        help="re-posts of events this recent count as duplicates (default: %(default)s)",
    )
    from ingestion.otlp.route import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_serve)

"""Request bodies of the HTTP loader: settings and limits, decoding, framing, per-event checks.

Pure functions over bytes: a body is decompressed under a cap (gzip bombs stop early), framed
as one event, a JSON array or NDJSON, and every event is checked with the validation core.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from ingestion.http.wal import (
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_SEGMENT_BYTES,
)
from ingestion.validation.contract import (
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
    parse_document,
)

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

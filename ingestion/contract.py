"""The event contract: JSON Schema plus the rules JSON Schema cannot express.

One validation core shared by the file loader and the HTTP loader. The hot path parses with
orjson and validates with jsonschema-rs; the pure-Python `jsonschema` package is the reference
the tests hold it to (`reference_is_valid`). Every rejection carries a `reason_code` and
JSON-pointer paths so a producer can find and fix the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "agent-event-v0.schema.json"
EVENT_VERSION = "0"
DEFAULT_MAX_EVENT_BYTES = 256 * 1024
DEFAULT_MAX_FUTURE_SKEW = timedelta(minutes=5)

# Reason codes, one per rule. Schema violations are classified by the keyword that failed.
MISSING_FIELD = "missing_field"
UNKNOWN_FIELD = "unknown_field"
WRONG_TYPE = "wrong_type"
INVALID_VALUE = "invalid_value"
OUT_OF_RANGE = "out_of_range"
INVALID_LENGTH = "invalid_length"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_TRACE_ID = "invalid_trace_id"
CACHE_TOKENS_EXCEED_INPUT = "cache_tokens_exceed_input"
REASONING_EXCEEDS_OUTPUT = "reasoning_exceeds_output"
TOTAL_TOKENS_MISMATCH = "total_tokens_mismatch"
ENDED_BEFORE_STARTED = "ended_before_started"
OCCURRED_IN_FUTURE = "occurred_in_future"
NON_FINITE_NUMBER = "non_finite_number"
DUPLICATE_KEY = "duplicate_key"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
EVENT_TOO_LARGE = "event_too_large"
NESTING_TOO_DEEP = "nesting_too_deep"

TIMESTAMP_FIELDS = (
    ("occurred_at",),
    ("run", "started_at"),
    ("run", "ended_at"),
    ("budget", "period_start"),
    ("alert", "sent_at"),
)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: a JSON pointer and what is wrong there."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True)
class Rejection:
    """Why an event was refused: the first problem's reason code and every field error."""

    reason_code: str
    errors: tuple[FieldError, ...]
    event_id: str | None = None


@dataclass(frozen=True)
class ValidationConfig:
    """Limits a deployment may tune."""

    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW


@dataclass
class ValidEvent:
    """An event that passed every check, with its timestamps parsed to UTC microseconds."""

    event: dict[str, Any]
    timestamps_us: dict[tuple[str, ...], int] = field(default_factory=dict)
    size: int = 0
    raw: bytes = b""  # the event as one line of JSON; empty means "serialise `event`"
    content_hash: str = ""  # set by `seal()`
    attributes_json: str | None = None  # set by `seal()`

    def replace_event(self, event: dict[str, Any]) -> None:
        """Swap in a changed event (for example redacted) and re-serialise its line."""
        self.event = event
        self.raw = orjson.dumps(event)

    def seal(self) -> None:
        """Compute what the lake needs from the parsed event, then drop the dict.

        A chunk holds thousands of events; keeping only bytes and two strings per event keeps
        the loader's memory flat.
        """
        ev = self.event
        if not self.raw:
            self.raw = orjson.dumps(ev)
        self.content_hash = content_hash(ev)
        attrs = ev.get("attributes")
        self.attributes_json = (
            orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode() if attrs is not None else None
        )
        self.event = {}


def content_hash(event: dict[str, Any]) -> str:
    """Hash of an event's content, independent of key order and whitespace."""
    dumped = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(dumped, digest_size=16).hexdigest()


class InvalidDocument(Exception):
    """A JSON document that cannot be parsed into events at all."""

    def __init__(self, rejection: Rejection):
        super().__init__(rejection.errors[0].message if rejection.errors else rejection.reason_code)
        self.rejection = rejection


@cache
def load_schema() -> dict[str, Any]:
    """The event JSON Schema, from `schemas/` (the only copy)."""
    return json.loads(SCHEMA_PATH.read_text())


@cache
def _fast_validator() -> Any:
    return jsonschema_rs.Draft202012Validator(load_schema())


@cache
def _reference_validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema())


def reference_is_valid(event: Any) -> bool:
    """The verdict of the pure-Python reference implementation (tests use it as the oracle)."""
    return _reference_validator().is_valid(event)


def fast_is_valid(event: Any) -> bool:
    """The verdict of the hot-path validator."""
    return _fast_validator().is_valid(event)


def pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """RFC 6901 JSON pointer for a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


_TS_PATHS = {"/occurred_at", "/run/started_at", "/run/ended_at", "/budget/period_start"}
_TS_PATHS |= {"/alert/sent_at"}
_TRACE_PATHS = {"/trace/trace_id", "/trace/span_id", "/trace/parent_span_id"}


def _schema_errors(event: Any) -> list[tuple[str, FieldError]]:
    """Every schema error, classified, most useful first (missing and unknown fields lead)."""
    out: list[tuple[str, FieldError]] = []
    for err in _fast_validator().iter_errors(event):
        kind = type(err.kind).__name__.removeprefix("ValidationErrorKind_")
        base = list(err.instance_path)
        path = pointer(base)
        if kind == "Required":
            name = getattr(err.kind, "property", None)
            name = name if isinstance(name, str) else str(name).strip("'\"")
            out.append((MISSING_FIELD, FieldError(pointer([*base, name]), f"'{name}' is required")))
            continue
        if kind == "AdditionalProperties":
            for name in getattr(err.kind, "unexpected", []) or []:
                msg = f"unknown field '{name}'; put extensions under /attributes"
                out.append((UNKNOWN_FIELD, FieldError(pointer([*base, name]), msg)))
            continue
        if path in _TS_PATHS and kind in ("Pattern", "Type"):
            msg = "must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T12:00:00Z"
            out.append((INVALID_TIMESTAMP, FieldError(path, msg)))
            continue
        if path in _TRACE_PATHS and kind in ("Pattern", "OneOfNotValid", "Type"):
            msg = "must be lowercase hex: trace_id 32 chars, span ids 16 chars (W3C trace context)"
            out.append((INVALID_TRACE_ID, FieldError(path, msg)))
            continue
        code = {
            "Type": WRONG_TYPE,
            "Enum": INVALID_VALUE,
            "Constant": INVALID_VALUE,
            "Pattern": INVALID_VALUE,
            "Minimum": OUT_OF_RANGE,
            "MinLength": INVALID_LENGTH,
            "MaxLength": INVALID_LENGTH,
        }.get(kind, INVALID_VALUE)
        out.append((code, FieldError(path, err.message)))
    order = {MISSING_FIELD: 0, UNKNOWN_FIELD: 1}
    out.sort(key=lambda item: order.get(item[0], 2))
    return out


def _count_keys(value: Any) -> int:
    n = 0
    if type(value) is dict:
        n = len(value)
        for v in value.values():
            if type(v) is dict or type(v) is list:
                n += _count_keys(v)
    elif type(value) is list:
        for v in value:
            if type(v) is dict or type(v) is list:
                n += _count_keys(v)
    return n


_SPACED_KEY = re.compile(rb'"\s+:')


def _may_have_duplicate_keys(raw: bytes, parsed: Any) -> bool:
    """Cheap test that never misses a duplicate key: count key separators in the text.

    Every member of a JSON object ends with `"` then optional whitespace then `:`; strings that
    contain such text only add to the count. If the text holds no more separators than the
    parsed objects hold keys, no key was repeated. Otherwise the exact (slow) check decides.
    """
    seps = raw.count(b'":')
    if _SPACED_KEY.search(raw):
        seps += len(_SPACED_KEY.findall(raw))
    return seps != _count_keys(parsed)


def _locate_duplicate(text: str) -> str:
    """Pointer to the duplicated key, searched object by object (only runs on bad input)."""
    # Parse keeping pairs so the exact location can be reported.
    pairs_tree = json.loads(text, object_pairs_hook=lambda pairs: ("__pairs__", pairs))

    def find(node: Any, path: list[str | int]) -> str | None:
        if isinstance(node, tuple) and node and node[0] == "__pairs__":
            seen: set[str] = set()
            for k, _v in node[1]:
                if k in seen:
                    return pointer([*path, k])
                seen.add(k)
            for k, v in node[1]:
                hit = find(v, [*path, k])
                if hit:
                    return hit
        elif isinstance(node, list):
            for i, v in enumerate(node):
                hit = find(v, [*path, i])
                if hit:
                    return hit
        return None

    return find(pairs_tree, []) or ""


def _too_deep() -> Rejection:
    msg = "JSON nested too deeply; events are at most a few levels deep"
    return Rejection(NESTING_TOO_DEEP, (FieldError("", msg),))


def _reject_unparseable(raw: bytes, max_bytes: int) -> Rejection:
    """Classify a line orjson refused: bad UTF-8, NaN/Infinity, or plain bad JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"byte {exc.start} is not valid UTF-8; send UTF-8 encoded JSON"
        return Rejection(INVALID_UTF8, (FieldError("", msg),))
    non_finite: list[str] = []

    def constant(name: str) -> float:
        non_finite.append(name)
        return float("nan")

    try:
        json.loads(text, parse_constant=constant)
    except ValueError as exc:
        msg = f"not valid JSON: {exc}"
        return Rejection(INVALID_JSON, (FieldError("", msg),))
    if non_finite:
        msg = f"{non_finite[0]} is not a JSON number; send null or omit the field"
        return Rejection(NON_FINITE_NUMBER, (FieldError(_path_of_non_finite(text), msg),))
    # Python accepted what orjson did not (for example an integer beyond 64 bits).
    msg = "number out of range for a 64-bit integer or a double"
    return Rejection(OUT_OF_RANGE, (FieldError("", msg),))


def _path_of_non_finite(text: str) -> str:
    tree = json.loads(text, parse_constant=lambda name: _NonFinite())

    def find(node: Any, path: list[str | int]) -> str | None:
        if isinstance(node, _NonFinite):
            return pointer(path)
        if isinstance(node, dict | list):
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for k, v in items:
                hit = find(v, [*path, k])
                if hit is not None:
                    return hit
        return None

    return find(tree, []) or ""


class _NonFinite:
    pass


def _parse_ts(value: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        dt = datetime.fromisoformat(value.upper())  # RFC 3339 allows lowercase t and z
    if dt.tzinfo is None:  # the schema pattern already demands an offset
        raise ValueError("naive timestamp")
    return dt


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(dt: datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_fromiso = datetime.fromisoformat


def _fast_semantics(
    event: dict[str, Any], now_us: int, skew_us: int
) -> dict[tuple[str, ...], int] | None:
    """The semantic rules for the common, valid case; None means "run the full check".

    Same rules as `semantic_errors`, unrolled for the hot path: any doubt (a timestamp that
    does not parse, a rule that fails) defers to the full check, which builds the errors.
    """
    try:
        occurred = to_us(_fromiso(event["occurred_at"]))
        stamps = {("occurred_at",): occurred}
        run = event["run"]
        started = run.get("started_at")
        ended = run.get("ended_at")
        if started is not None:
            stamps[("run", "started_at")] = started_us = to_us(_fromiso(started))
        if ended is not None:
            stamps[("run", "ended_at")] = ended_us = to_us(_fromiso(ended))
            if started is not None and ended_us < started_us:
                return None
        budget = event.get("budget")
        if budget is not None:
            stamps[("budget", "period_start")] = to_us(_fromiso(budget["period_start"]))
        alert = event.get("alert")
        if alert is not None:
            stamps[("alert", "sent_at")] = to_us(_fromiso(alert["sent_at"]))
    except ValueError:
        return None
    if occurred > now_us + skew_us:
        return None
    usage = event.get("resource_usage")
    if usage is not None:
        inp = usage["input_tokens"]
        out = usage["output_tokens"]
        if usage.get("cached_tokens", 0) + usage.get("cache_write_tokens", 0) > inp:
            return None
        if usage.get("reasoning_tokens", 0) > out:
            return None
        total = usage.get("total_tokens")
        if total is not None and total != inp + out:
            return None
    return stamps


def semantic_errors(
    event: dict[str, Any], now: datetime, config: ValidationConfig
) -> tuple[list[tuple[str, FieldError]], dict[tuple[str, ...], int]]:
    """Checks JSON Schema cannot express. Assumes the event already passed the schema."""
    errors: list[tuple[str, FieldError]] = []
    stamps: dict[tuple[str, ...], int] = {}
    parsed: dict[tuple[str, ...], datetime] = {}
    for path in TIMESTAMP_FIELDS:
        node: Any = event
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        try:
            dt = _parse_ts(node)
        except ValueError as exc:
            msg = f"'{node}' is not a real date-time ({exc})"
            errors.append((INVALID_TIMESTAMP, FieldError(pointer(path), msg)))
            continue
        parsed[path] = dt
        stamps[path] = to_us(dt)

    occurred = parsed.get(("occurred_at",))
    if occurred is not None and occurred > now + config.max_future_skew:
        msg = (
            f"occurred_at {event['occurred_at']} is more than "
            f"{int(config.max_future_skew.total_seconds())} s after the loader's clock "
            f"({now.isoformat(timespec='seconds')}); check the producer's clock and time zone"
        )
        errors.append((OCCURRED_IN_FUTURE, FieldError("/occurred_at", msg)))

    started, ended = parsed.get(("run", "started_at")), parsed.get(("run", "ended_at"))
    if started is not None and ended is not None and ended < started:
        msg = f"run.ended_at {event['run']['ended_at']} is before started_at"
        errors.append((ENDED_BEFORE_STARTED, FieldError("/run/ended_at", msg)))

    usage = event.get("resource_usage")
    if usage is not None:
        inp, out = usage["input_tokens"], usage["output_tokens"]
        cached, written = usage.get("cached_tokens", 0), usage.get("cache_write_tokens", 0)
        if cached + written > inp:
            msg = (
                f"cached_tokens ({cached}) + cache_write_tokens ({written}) exceed input_tokens "
                f"({inp}); input_tokens must include cache reads and writes"
            )
            errors.append(
                (CACHE_TOKENS_EXCEED_INPUT, FieldError("/resource_usage/input_tokens", msg))
            )
        reasoning = usage.get("reasoning_tokens", 0)
        if reasoning > out:
            msg = (
                f"reasoning_tokens ({reasoning}) exceed output_tokens ({out}); "
                "output_tokens must include reasoning tokens"
            )
            errors.append(
                (REASONING_EXCEEDS_OUTPUT, FieldError("/resource_usage/reasoning_tokens", msg))
            )
        total = usage.get("total_tokens")
        if total is not None and total != inp + out:
            msg = f"total_tokens ({total}) must equal input_tokens + output_tokens ({inp + out})"
            errors.append((TOTAL_TOKENS_MISMATCH, FieldError("/resource_usage/total_tokens", msg)))
    return errors, stamps


def _event_id_of(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(obj.get("event_id"), str):
        return obj["event_id"]
    return None


def check_event(
    obj: Any, now: datetime, config: ValidationConfig = ValidationConfig(), size: int = 0
) -> ValidEvent | Rejection:
    """Validate one parsed event: schema first, then the semantic rules."""
    if size > config.max_event_bytes:
        msg = f"event is {size} bytes; the limit is {config.max_event_bytes} bytes"
        return Rejection(EVENT_TOO_LARGE, (FieldError("", msg),), _event_id_of(obj))
    if not _fast_validator().is_valid(obj):
        errs = _schema_errors(obj)
        if not errs:  # defensive: never accept what the fast validator refused
            errs = [(INVALID_VALUE, FieldError("", "event does not match the schema"))]
        return Rejection(errs[0][0], tuple(e for _, e in errs), _event_id_of(obj))
    stamps = _fast_semantics(obj, to_us(now), config.max_future_skew // timedelta(microseconds=1))
    if stamps is None:
        errs, stamps = semantic_errors(obj, now, config)
        if errs:
            return Rejection(errs[0][0], tuple(e for _, e in errs), obj["event_id"])
    usage = obj.get("resource_usage")
    if usage and any(type(v) is float for v in usage.values()):
        # JSON Schema calls 3.0 an integer; the lake stores BIGINT.
        obj["resource_usage"] = {k: int(v) for k, v in usage.items()}
        return ValidEvent(obj, stamps, size, orjson.dumps(obj))
    return ValidEvent(obj, stamps, size)


def parse_document(raw: bytes, max_bytes: int | None = None) -> Any:
    """Parse one JSON document strictly (UTF-8, no NaN, no duplicate keys) or raise."""
    if max_bytes is not None and len(raw) > max_bytes:
        msg = f"document is {len(raw)} bytes; the limit is {max_bytes} bytes"
        raise InvalidDocument(Rejection(EVENT_TOO_LARGE, (FieldError("", msg),)))
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            rejection = _reject_unparseable(raw, max_bytes or len(raw))
        except RecursionError:
            rejection = _too_deep()
        raise InvalidDocument(rejection) from None
    try:
        canonical = orjson.dumps(obj)
    except orjson.JSONEncodeError:  # orjson writes at most 255 levels
        raise InvalidDocument(_too_deep()) from None
    if isinstance(obj, float) and not math.isfinite(obj):
        raise InvalidDocument(
            Rejection(NON_FINITE_NUMBER, (FieldError("", "number out of range"),))
        )
    # Fast path: what orjson writes back byte for byte cannot have held a repeated key.
    if canonical != raw and _may_have_duplicate_keys(raw, obj):
        where = _locate_duplicate(raw.decode("utf-8"))
        if where:
            msg = f"key '{where.rsplit('/', 1)[-1]}' appears twice in one object; send it once"
            raise InvalidDocument(
                Rejection(DUPLICATE_KEY, (FieldError(where, msg),), _event_id_of(obj))
            )
    return obj


def check_line(
    raw: bytes, now: datetime, config: ValidationConfig = ValidationConfig()
) -> ValidEvent | Rejection:
    """Validate one JSONL line (without its newline)."""
    if len(raw) > config.max_event_bytes:
        msg = f"line is {len(raw)} bytes; the limit is {config.max_event_bytes} bytes"
        return Rejection(EVENT_TOO_LARGE, (FieldError("", msg),))
    try:
        obj = parse_document(raw)
    except InvalidDocument as exc:
        return exc.rejection
    result = check_event(obj, now, config, len(raw))
    if isinstance(result, ValidEvent) and not result.raw:
        result.raw = raw
    return result

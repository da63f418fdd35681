"""The event contract: JSON Schema plus the rules JSON Schema cannot express.

One validation core shared by the file loader and the HTTP loader. The hot path parses with
orjson and validates with jsonschema-rs; the pure-Python `jsonschema` package is the reference
the tests hold it to (`reference_is_valid`). Every rejection carries a `reason_code` and
JSON-pointer paths so a producer can find and fix the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import jsonschema_rs
import orjson
from xxhash import xxh3_128_hexdigest

from ingestion.settings import PROJECT_ROOT

SCHEMA_PATH = PROJECT_ROOT / "schemas" / "agent-event-v0.schema.json"
EVENT_VERSION = "0"
DEFAULT_MAX_EVENT_BYTES = 256 * 1024
DEFAULT_MAX_FUTURE_SKEW = timedelta(minutes=5)
# Nothing an agent did happened before this: a year-0001 timestamp is a producer bug.
DEFAULT_MIN_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
INT64_MAX = (1 << 63) - 1  # the lake stores token counts as BIGINT

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
OCCURRED_TOO_EARLY = "occurred_too_early"
NON_FINITE_NUMBER = "non_finite_number"
DUPLICATE_KEY = "duplicate_key"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
EVENT_TOO_LARGE = "event_too_large"
NESTING_TOO_DEEP = "nesting_too_deep"

# Money fields, stored as DECIMAL(38, 18): at most 20 integer digits and 18 decimal places.
MONEY_FIELDS = (("cost", "cost_usd"), ("budget", "limit_usd"), ("budget", "spend_usd"))
MONEY_SCALE = 18
MONEY_LIMIT = Decimal(10) ** 20

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
    min_occurred_at: datetime = DEFAULT_MIN_OCCURRED_AT

    @property
    def min_occurred_us(self) -> int:
        return to_us(self.min_occurred_at)


@dataclass
class ValidEvent:
    """An event that passed every check, with its timestamps parsed to UTC microseconds."""

    event: dict[str, Any]
    timestamps_us: dict[tuple[str, ...], int] = field(default_factory=dict)
    size: int = 0
    raw: bytes = b""  # the event as one line of JSON; empty means "serialise `event`"

    def replace_event(self, event: dict[str, Any]) -> None:
        """Swap in a changed event (for example redacted) and re-serialise its line."""
        self.event = event
        self.raw = orjson.dumps(event)


def content_hash(event: dict[str, Any]) -> str:
    """Hash of an event's content, independent of key order and whitespace.

    XXH3-128 of the event as compact JSON with sorted keys. It tells copies of one event_id
    apart (conflicting duplicates), which needs no cryptographic strength; on the loader's hot
    path it costs half of what BLAKE2b did.
    """
    return xxh3_128_hexdigest(orjson.dumps(event, option=orjson.OPT_SORT_KEYS))


def attributes_json(event: dict[str, Any]) -> str | None:
    """The event's attributes as the lake stores them: JSON text with sorted keys."""
    attrs = event.get("attributes")
    return None if attrs is None else orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode()


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
def fast_validator() -> Any:
    """The compiled jsonschema-rs validator of the event schema (the hot path's)."""
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
    return fast_validator().is_valid(event)


def pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """RFC 6901 JSON pointer for a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


_TS_PATHS = {"/occurred_at", "/run/started_at", "/run/ended_at", "/budget/period_start"}
_TS_PATHS |= {"/alert/sent_at"}
_TRACE_PATHS = {"/trace/trace_id", "/trace/span_id", "/trace/parent_span_id"}


def _schema_errors(event: Any) -> list[tuple[str, FieldError]]:
    """Every schema error, classified, most useful first (missing and unknown fields lead)."""
    out: list[tuple[str, FieldError]] = []
    for err in fast_validator().iter_errors(event):
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
_KEY_SEP = b'":'
# Escapes that spell `"` or `:`: only these can hide a `":` of a string from the text.
_HIDDEN_SEP = re.compile(rb"\\u00(?:22|3[aA])")


def _may_have_duplicate_keys(raw: bytes, parsed: Any, compact: bytes) -> bool:
    """Cheap test that never misses a duplicate key: count key separators in the text.

    Every member of a JSON object ends with `"` then optional whitespace then `:`; strings that
    contain such text only add to the count. Unless a `\\u0022` or `\\u003a` escape spells
    a string's `"` or `:`, the text and orjson's compact form of its parse (`compact`) spell
    each string's `":` alike, so the text holds no more separators than the compact form
    exactly when no key was repeated (the copies orjson dropped, and their values, would add
    some). With such an escape the parsed keys are counted instead. Otherwise the exact
    (slow) check decides.
    """
    seps = raw.count(_KEY_SEP)
    if _SPACED_KEY.search(raw):
        seps += len(_SPACED_KEY.findall(raw))
    if b"\\u" not in raw or not _HIDDEN_SEP.search(raw):
        return seps != compact.count(_KEY_SEP)
    return seps != _count_keys(parsed)


_MONEY_TEXT = re.compile(rb'"(?:cost_usd|limit_usd|spend_usd)"\s*:\s*(-?[0-9][0-9.eE+-]*)')


def same_as_sent(raw: bytes, parsed: dict[str, Any], compact: bytes | None = None) -> bool:
    """Whether a valid event's text says exactly what its parse holds, in any JSON form.

    True when no key can have been repeated (orjson keeps the last copy silently) and every
    money amount's digits, as sent, fit the lake's DECIMAL (a float may have dropped some).
    False means "let the full check decide". Spacing, key order and escapes are all fine.
    `compact` is `orjson.dumps(parsed)`, when the caller has it already.
    """
    if compact is None:
        compact = orjson.dumps(parsed)
    if _may_have_duplicate_keys(raw, parsed, compact):
        return False
    n_money = sum(
        1
        for section, name in MONEY_FIELDS
        if isinstance(parsed.get(section), dict) and name in parsed[section]
    )
    if not n_money:
        return True
    found = _MONEY_TEXT.findall(raw)
    if len(found) != n_money:
        return False
    # An escaped key (`"cost\\u005fusd"`) hides its member from the search of the text, and
    # an attribute named `cost_usd` could stand in for it: the decoded form finds every member.
    if b"\\u" in raw and len(_MONEY_TEXT.findall(compact)) != n_money:
        return False
    return all(money_fits(Decimal(t.decode())) for t in found)


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
    # Python accepted what orjson did not: a number beyond a double's range (1e400), or a
    # string orjson refuses (a lone surrogate escape).
    where = _path_of_huge_number(text)
    if where is not None:
        msg = "number beyond the range of a double (about 1.8e308); send a smaller value"
        return Rejection(OUT_OF_RANGE, (FieldError(where, msg),))
    return Rejection(INVALID_JSON, (FieldError("", "not valid JSON: a string escape is invalid"),))


def _path_of_huge_number(text: str) -> str | None:
    """Pointer to the first number that overflows a double, None if there is none."""
    tree = json.loads(text, parse_float=_float_or_huge, parse_int=_float_or_huge)
    return _find(tree, [], lambda node: isinstance(node, _Huge))


def _float_or_huge(text: str) -> Any:
    value = float(text)
    return _Huge() if math.isinf(value) else value


class _Huge:
    pass


def _find(node: Any, path: list[str | int], hit: Any) -> str | None:
    if hit(node):
        return pointer(path)
    if isinstance(node, dict | list):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            found = _find(v, [*path, k], hit)
            if found is not None:
                return found
    return None


def _path_of_non_finite(text: str) -> str:
    tree = json.loads(text, parse_constant=lambda name: _NonFinite())
    return _find(tree, [], lambda node: isinstance(node, _NonFinite)) or ""


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
ONE_US = timedelta(microseconds=1)


def to_us(dt: datetime) -> int:
    return (dt - _EPOCH) // ONE_US


_fromiso = datetime.fromisoformat
_DEFAULT_MIN_US = to_us(DEFAULT_MIN_OCCURRED_AT)

# Microseconds of (occurred_at, run.started_at, run.ended_at, budget.period_start,
# alert.sent_at), in the order of TIMESTAMP_FIELDS; None where the event has no such field.
Stamps = tuple[int, int | None, int | None, int | None, int | None]


def fast_stamps(
    event: dict[str, Any], now_us: int, skew_us: int, min_us: int | None = None
) -> Stamps | None:
    """The semantic rules for the common, valid case; None means "run the full check".

    Same rules as `semantic_errors`, unrolled for the hot path: any doubt (a timestamp that
    does not parse, a rule that fails, a token count sent as 3.0) defers to the full check,
    which builds the errors or normalises the event.
    """
    try:
        occurred = to_us(_fromiso(event["occurred_at"]))
        run = event["run"]
        started = run.get("started_at")
        ended = run.get("ended_at")
        started_us = None if started is None else to_us(_fromiso(started))
        ended_us = None if ended is None else to_us(_fromiso(ended))
        if started_us is not None and ended_us is not None and ended_us < started_us:
            return None
        budget = event.get("budget")
        period_us = None if budget is None else to_us(_fromiso(budget["period_start"]))
        alert = event.get("alert")
        sent_us = None if alert is None else to_us(_fromiso(alert["sent_at"]))
    except ValueError:
        return None
    if occurred > now_us + skew_us or occurred < (_DEFAULT_MIN_US if min_us is None else min_us):
        return None
    usage = event.get("resource_usage")
    if usage is not None:
        for v in usage.values():
            if type(v) is not int or v > INT64_MAX:
                return None
        inp = usage["input_tokens"]
        out = usage["output_tokens"]
        if usage.get("cached_tokens", 0) + usage.get("cache_write_tokens", 0) > inp:
            return None
        if usage.get("reasoning_tokens", 0) > out:
            return None
        total = usage.get("total_tokens")
        if total is not None and total != inp + out:
            return None
    cost = event.get("cost")
    if cost is not None and not money_fits(cost["cost_usd"]):
        return None
    if budget is not None and not (
        money_fits(budget["limit_usd"]) and money_fits(budget["spend_usd"])
    ):
        return None
    return (occurred, started_us, ended_us, period_us, sent_us)


def money_fits(value: int | float | Decimal) -> bool:
    """Whether a money amount is exact in the lake's DECIMAL(38, 18).

    A float stands for its shortest repr (what orjson writes back); a Decimal for the digits
    the producer sent.
    """
    if type(value) is int:
        return -MONEY_LIMIT < value < MONEY_LIMIT
    d = Decimal(repr(value)) if type(value) is float else Decimal(value)
    if not d.is_finite() or not -MONEY_LIMIT < d < MONEY_LIMIT:
        return False
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    trailing_zeros = len(digits) - len(bytes(digits).rstrip(b"\x00"))
    return exponent + trailing_zeros >= -MONEY_SCALE or not any(digits)


def _money_errors(event: dict[str, Any], exact: dict[str, Any] | None = None) -> list:
    """Money amounts the lake cannot hold exactly; `exact` is the event parsed with Decimals."""
    errors: list[tuple[str, FieldError]] = []
    for section, name in MONEY_FIELDS:
        node = (exact or event).get(section)
        if not isinstance(node, dict) or name not in node or money_fits(node[name]):
            continue
        msg = (
            f"{node[name]} has more than {MONEY_SCALE} decimal places or 20 integer digits; "
            "money is kept exactly as DECIMAL(38, 18): round it before sending"
        )
        errors.append((OUT_OF_RANGE, FieldError(pointer((section, name)), msg)))
    return errors


def stamps_of(timestamps_us: dict[tuple[str, ...], int]) -> Stamps:
    """A `ValidEvent.timestamps_us` mapping as the hot path's tuple."""
    occurred, started, ended, period, sent = (timestamps_us.get(p) for p in TIMESTAMP_FIELDS)
    assert occurred is not None
    return (occurred, started, ended, period, sent)


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
    if occurred is not None and occurred < config.min_occurred_at:
        msg = (
            f"occurred_at {event['occurred_at']} is before "
            f"{config.min_occurred_at.isoformat().replace('+00:00', 'Z')}, the earliest the "
            "loader accepts; check the producer's clock"
        )
        errors.append((OCCURRED_TOO_EARLY, FieldError("/occurred_at", msg)))

    started, ended = parsed.get(("run", "started_at")), parsed.get(("run", "ended_at"))
    if started is not None and ended is not None and ended < started:
        msg = f"run.ended_at {event['run']['ended_at']} is before started_at"
        errors.append((ENDED_BEFORE_STARTED, FieldError("/run/ended_at", msg)))

    usage = event.get("resource_usage")
    if usage is not None:
        huge = [k for k, v in usage.items() if not -INT64_MAX <= v <= INT64_MAX]
        for k in huge:
            msg = (
                f"{usage[k]:.0f} is beyond the 64-bit integer range (at most {INT64_MAX}); "
                "send the real count"
            )
            errors.append((OUT_OF_RANGE, FieldError(f"/resource_usage/{k}", msg)))
        if huge:
            return errors, stamps
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
    obj: Any,
    now: datetime,
    config: ValidationConfig = ValidationConfig(),
    size: int = 0,
    raw: bytes | None = None,
) -> ValidEvent | Rejection:
    """Validate one parsed event: schema first, then the semantic rules.

    `raw` is the event's JSON text when there is one: money is then judged on the digits sent,
    not on the float orjson parsed them into.
    """
    if size > config.max_event_bytes:
        msg = f"event is {size} bytes; the limit is {config.max_event_bytes} bytes"
        return Rejection(EVENT_TOO_LARGE, (FieldError("", msg),), _event_id_of(obj))
    if not fast_validator().is_valid(obj):
        errs = _schema_errors(obj)
        if not errs:  # defensive: never accept what the fast validator refused
            errs = [(INVALID_VALUE, FieldError("", "event does not match the schema"))]
        return Rejection(errs[0][0], tuple(e for _, e in errs), _event_id_of(obj))
    fast = fast_stamps(obj, to_us(now), config.max_future_skew // ONE_US, config.min_occurred_us)
    errs: list[tuple[str, FieldError]] = []
    if fast is not None:
        stamps = {
            path: us for path, us in zip(TIMESTAMP_FIELDS, fast, strict=True) if us is not None
        }
    else:
        errs, stamps = semantic_errors(obj, now, config)
    # fast_stamps judged money on the floats; the text may hold digits a float dropped.
    doubt = fast is None or (raw is not None and orjson.dumps(obj) != raw)
    if doubt and ("cost" in obj or "budget" in obj):
        errs += _money_errors(obj, None if raw is None else json.loads(raw, parse_float=Decimal))
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
    if canonical != raw and _may_have_duplicate_keys(raw, obj, canonical):
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
    result = check_event(obj, now, config, len(raw), raw)
    if isinstance(result, ValidEvent) and not result.raw:
        result.raw = raw
    return result

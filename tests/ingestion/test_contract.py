"""Every rule of the event contract: a valid case and invalid ones, exact reason and path."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.validation.contract import (
    Rejection,
    ValidationConfig,
    ValidEvent,
    check_line,
    fast_is_valid,
    reference_is_valid,
)
from tests.conftest import make_event

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

ERROR = {"code": "rate_limit_exceeded", "message": "429 from provider", "type": "rate_limit"}
SECTIONS: dict[str, dict[str, Any]] = {
    "step": {"step_id": "s1", "step_type": "plan", "status": "ok", "latency_ms": 12.5},
    "model_call": {"model_call_id": "mc-1", "provider": "openai", "model": "gpt-4o"},
    "tool_call": {"tool_call_id": "tc-1", "tool_name": "search", "latency_ms": 3},
    "policy": {
        "policy_id": "pii-guard",
        "decision": "block",
        "rule": "no-ssn",
        "reason": "SSN in prompt",
        "actor": {"actor_type": "agent", "actor_id": "agent-a"},
    },
    "budget": {
        "budget_id": "b1",
        "scope": "tenant",
        "scope_id": "acme",
        "period": "monthly",
        "period_start": "2026-11-01T00:00:00Z",
        "limit_usd": 100,
        "threshold_pct": 80,
        "spend_usd": 80.5,
        "enforcement": "alert",
    },
    "alert": {
        "alert_id": "a1",
        "alert_type": "budget_threshold",
        "threshold": 80,
        "current_value": 80.5,
        "destination": "slack",
        "sent_at": "2026-11-20T10:00:01Z",
    },
    "resource_usage": {"input_tokens": 10, "output_tokens": 2},
}
REQUIRES = {
    "run.started": [],
    "run.completed": ["resource_usage"],
    "run.failed": ["resource_usage"],
    "step.started": ["step"],
    "step.completed": ["step"],
    "step.failed": ["step"],
    "model_call.completed": ["model_call", "resource_usage"],
    "model_call.failed": ["model_call", "resource_usage"],
    "tool_call.completed": ["tool_call"],
    "tool_call.failed": ["tool_call"],
    "policy.decision": ["policy"],
    "budget.threshold_hit": ["budget"],
    "alert.emitted": ["alert"],
}


def event_of_type(event_type: str) -> dict[str, Any]:
    ev = make_event(event_type=event_type, model_call=..., resource_usage=...)
    for section in REQUIRES[event_type]:
        ev[section] = copy.deepcopy(SECTIONS[section])
    if event_type.endswith(".failed"):
        ev["error"] = dict(ERROR)
    return ev


def check(ev: Any, **config: Any) -> ValidEvent | Rejection:
    raw = ev if isinstance(ev, bytes) else orjson.dumps(ev)
    return check_line(raw, NOW, ValidationConfig(**config))


def assert_rejected(result: Any, reason: str, path: str) -> None:
    assert isinstance(result, Rejection), f"expected rejection {reason}, got valid"
    assert result.reason_code == reason, result
    assert path in [e.path for e in result.errors], result.errors


@pytest.mark.parametrize("event_type", sorted(REQUIRES))
def test_every_event_type_valid_with_its_sections(event_type: str) -> None:
    assert isinstance(check(event_of_type(event_type)), ValidEvent)
    assert reference_is_valid(event_of_type(event_type))


@pytest.mark.parametrize(
    ("event_type", "section"),
    [(t, s) for t, secs in sorted(REQUIRES.items()) for s in secs]
    + [(t, "error") for t in sorted(REQUIRES) if t.endswith(".failed")],
)
def test_event_type_requires_its_sections(event_type: str, section: str) -> None:
    ev = event_of_type(event_type)
    del ev[section]
    assert_rejected(check(ev), "missing_field", f"/{section}")


def mutate(path: str, value: Any) -> dict[str, Any]:
    """A valid event with the field at a slash path set (or removed, for `...`)."""
    ev = make_event()
    parts = path.strip("/").split("/")
    node = ev
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    if value is ...:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    return ev


INVALID_CASES = [
    # envelope
    ("/event_version", "1", "invalid_value"),
    ("/event_version", 0, "invalid_value"),
    ("/event_id", "", "invalid_length"),
    ("/event_id", "x" * 129, "invalid_length"),
    ("/event_id", ..., "missing_field"),
    ("/event_type", "model_call.started", "invalid_value"),
    ("/occurred_at", "2026-11-20T10:00:00", "invalid_timestamp"),
    ("/occurred_at", "2026-11-20 10:00:00Z", "invalid_timestamp"),
    ("/occurred_at", "2026-02-30T10:00:00Z", "invalid_timestamp"),
    ("/occurred_at", 1700000000, "invalid_timestamp"),
    ("/unexpected", 1, "unknown_field"),
    ("/tenant/tenant_id", "", "invalid_length"),
    ("/tenant/workspace_id", ..., "missing_field"),
    ("/tenant/extra", "x", "unknown_field"),
    ("/run/run_id", ..., "missing_field"),
    ("/run/agent_id", 7, "wrong_type"),
    ("/run/status", "done", "invalid_value"),
    ("/run/started_at", "yesterday", "invalid_timestamp"),
    ("/trace/trace_id", "4BF92F3577B34DA6A3CE929D0E0E4736", "invalid_trace_id"),
    ("/trace/trace_id", "abc", "invalid_trace_id"),
    ("/trace/span_id", "00f067aa0ba902b", "invalid_trace_id"),
    ("/trace/parent_span_id", "xyz", "invalid_trace_id"),
    ("/model_call/provider", ..., "missing_field"),
    ("/model_call/latency_ms", -1, "out_of_range"),
    ("/model_call/surprise", True, "unknown_field"),
    ("/resource_usage/input_tokens", -5, "out_of_range"),
    ("/resource_usage/output_tokens", 1.5, "wrong_type"),
    ("/resource_usage/cached_tokens", "10", "wrong_type"),
    ("/cost/currency", "EUR", "invalid_value"),
    ("/attributes/nested", {"a": 1}, "wrong_type"),
    ("/error/retryable", "yes", "wrong_type"),
]


@pytest.mark.parametrize(("path", "value", "reason"), INVALID_CASES)
def test_schema_rules(path: str, value: Any, reason: str) -> None:
    ev = mutate(path, value)
    if path.startswith("/cost"):
        ev["cost"] = {"cost_usd": 1, "currency": value}
    if path.startswith("/error"):
        ev["error"] = {"code": "x", "message": "y", "retryable": value}
    expected_path = path
    assert_rejected(check(ev), reason, expected_path)
    assert not reference_is_valid(ev) or reason in {"invalid_timestamp"}


VALID_CASES = [
    ("/occurred_at", "2026-11-20T10:00:00.123456+02:00"),
    ("/occurred_at", "2026-11-20t10:00:00z"),
    ("/trace/parent_span_id", None),
    ("/run/status", "cancelled"),
    ("/resource_usage/input_tokens", 1000),
    ("/attributes", {"k": "v", "n": 1.5, "b": False}),
    ("/cost", {"cost_usd": 0.0123, "currency": "USD", "price_book_version": "x"}),
    ("/model_call/latency_ms", 0.5),
]


@pytest.mark.parametrize(("path", "value"), VALID_CASES)
def test_valid_variants(path: str, value: Any) -> None:
    ev = mutate(path, value)
    assert isinstance(check(ev), ValidEvent)
    assert reference_is_valid(ev)


def usage(**kw: int) -> dict[str, Any]:
    return mutate("/resource_usage", kw)


@pytest.mark.parametrize(
    ("ev", "reason", "path"),
    [
        (
            usage(input_tokens=100, output_tokens=1, cached_tokens=60, cache_write_tokens=41),
            "cache_tokens_exceed_input",
            "/resource_usage/input_tokens",
        ),
        (
            usage(input_tokens=10, output_tokens=5, reasoning_tokens=6),
            "reasoning_exceeds_output",
            "/resource_usage/reasoning_tokens",
        ),
        (
            usage(input_tokens=10, output_tokens=5, total_tokens=14),
            "total_tokens_mismatch",
            "/resource_usage/total_tokens",
        ),
        (
            mutate(
                "/run",
                {
                    "run_id": "r",
                    "agent_id": "a",
                    "started_at": "2026-11-20T10:00:00Z",
                    "ended_at": "2026-11-20T09:59:59Z",
                },
            ),
            "ended_before_started",
            "/run/ended_at",
        ),
        (mutate("/occurred_at", "2026-11-25T12:05:01Z"), "occurred_in_future", "/occurred_at"),
    ],
)
def test_semantic_rules(ev: dict[str, Any], reason: str, path: str) -> None:
    assert reference_is_valid(ev), "semantic cases must pass JSON Schema"
    assert_rejected(check(ev), reason, path)


def test_semantic_rules_boundaries_are_valid() -> None:
    ok = [
        usage(input_tokens=100, output_tokens=6, cached_tokens=60, cache_write_tokens=40),
        usage(input_tokens=10, output_tokens=5, reasoning_tokens=5, total_tokens=15),
        mutate("/occurred_at", "2026-11-25T12:05:00Z"),
        mutate("/occurred_at", "2026-11-25T13:04:00+01:00"),
        mutate(
            "/run",
            {
                "run_id": "r",
                "agent_id": "a",
                "started_at": "2026-11-20T10:00:00+01:00",
                "ended_at": "2026-11-20T09:00:00Z",
            },
        ),
    ]
    for ev in ok:
        assert isinstance(check(ev), ValidEvent), ev


def test_future_skew_is_configurable() -> None:
    ev = mutate("/occurred_at", "2026-11-25T12:30:00Z")
    assert_rejected(check(ev), "occurred_in_future", "/occurred_at")
    assert isinstance(check(ev, max_future_skew=timedelta(hours=1)), ValidEvent)


def test_raw_level_rules() -> None:
    good = orjson.dumps(make_event())
    assert_rejected(
        check(good.replace(b"1000", b"NaN", 1)), "non_finite_number", "/resource_usage/input_tokens"
    )
    assert_rejected(
        check(good.replace(b"1000", b"Infinity", 1)),
        "non_finite_number",
        "/resource_usage/input_tokens",
    )
    dup = good.replace(b'"provider":"openai"', b'"provider":"openai","provider":"azure"')
    assert_rejected(check(dup), "duplicate_key", "/model_call/provider")
    assert_rejected(check(good.replace(b"acme-prod", b"acme-\xff")), "invalid_utf8", "")
    assert_rejected(check(good[:-3]), "invalid_json", "")
    assert_rejected(check(b"[1, 2]"), "wrong_type", "")
    big = mutate("/attributes", {"pad": "x" * 300_000})
    assert_rejected(check(big), "event_too_large", "")
    assert isinstance(check(big, max_event_bytes=400_000), ValidEvent)


def test_duplicate_key_found_despite_spacing_and_escapes() -> None:
    text = json.dumps(make_event(), indent=1)  # spaced separators defeat the fast path
    dup = text.replace('"tenant_id": "acme"', '"tenant_id": "acme", "tenant_id" : "evil"')
    assert_rejected(check(dup.encode()), "duplicate_key", "/tenant/tenant_id")
    assert isinstance(check(text.encode()), ValidEvent)
    # a string value that looks like a key must not be mistaken for one
    tricky = make_event(attributes={"note": 'he said "x": y', "q": '"k" : 1'})
    assert isinstance(check(json.dumps(tricky, indent=2).encode()), ValidEvent)


def test_every_error_is_reported_with_paths() -> None:
    ev = make_event(extra=1, model_call=...)
    ev["trace"]["span_id"] = "nothex"
    result = check(ev)
    assert isinstance(result, Rejection)
    assert result.reason_code == "missing_field"
    assert {e.path for e in result.errors} == {"/model_call", "/extra", "/trace/span_id"}
    assert result.event_id == "evt-0001"


# --- fast validator vs reference: same verdict on every event -------------------------------

ids = st.text(min_size=0, max_size=4)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2), ids)
hexes = st.sampled_from(["0" * 32, "a" * 32, "A" * 32, "0" * 16, "f" * 16, "xyz", ""])
stamps = st.sampled_from(
    ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00", "2026-11-20T10:00:00.5+05:30", "x", ""]
)


def _perturb(draw: Any, base: dict[str, Any]) -> dict[str, Any]:
    ev = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["top", "section"]))
        if target == "top":
            key = draw(st.sampled_from(sorted(ev) + ["bogus", "attributes"]))
            ev[key] = draw(st.one_of(scalars, stamps, st.just(...), st.dictionaries(ids, scalars)))
            if ev[key] is ...:
                del ev[key]
        else:
            sections = [k for k, v in ev.items() if isinstance(v, dict)]
            if not sections:
                continue
            sec = draw(st.sampled_from(sections))
            keys = sorted(ev[sec]) + ["bogus"]
            key = draw(st.sampled_from(keys))
            value = draw(st.one_of(scalars, hexes, stamps, st.just(...)))
            if value is ...:
                ev[sec].pop(key, None)
            else:
                ev[sec][key] = value
    return ev


@st.composite
def events(draw: Any) -> dict[str, Any]:
    return _perturb(draw, event_of_type(draw(st.sampled_from(sorted(REQUIRES)))))


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(events())
def test_fast_validator_agrees_with_reference(ev: dict[str, Any]) -> None:
    assert fast_is_valid(ev) == reference_is_valid(ev)


def test_hand_written_corpus_agrees_with_reference() -> None:
    corpus = [event_of_type(t) for t in REQUIRES]
    corpus += [mutate(p, v) for p, v, _ in INVALID_CASES]
    corpus += [mutate(p, v) for p, v in VALID_CASES]
    for ev in corpus:
        assert fast_is_valid(ev) == reference_is_valid(ev), ev


def test_non_finite_after_nulls_and_ints_is_located() -> None:
    ev = make_event(attributes={"a": 1, "b": True})
    ev["trace"]["parent_span_id"] = None
    raw = orjson.dumps(ev).replace(b'"b":true', b'"b":Infinity')
    assert_rejected(check(raw), "non_finite_number", "/attributes/b")


def test_redaction_of_long_text_stays_linear() -> None:
    from ingestion.validation.redaction import DEFAULT_REDACTOR

    text = "a" * 100_000 + "@example.com " + "b" * 100_000
    # quadratic backtracking would take minutes here; the anchored pattern takes milliseconds
    assert DEFAULT_REDACTOR.redact_text(text).endswith(" " + "b" * 100_000)
    assert "[REDACTED:email]" in DEFAULT_REDACTOR.redact_text(text)


@pytest.mark.parametrize("depth", [300, 2000, 100_000])
def test_deeply_nested_json_is_rejected_not_crashed(depth: int) -> None:
    assert_rejected(check(b"[" * depth + b"]" * depth), "nesting_too_deep", "")

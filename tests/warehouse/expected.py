"""The independent computation: what the marts must hold, from the loaded event dicts.

Plain Python over the same lines the loader received, written from the contract (not from the
SQL), so a test that compares the two checks the dbt models rather than restating them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def key(ev: Event, id_: str) -> tuple[str, str]:
    """An id is its tenant's: (tenant_id, id)."""
    return ev["tenant"]["tenant_id"], id_


def first_loaded(loads: Iterable[list[Event]]) -> list[Event]:
    """One event per (tenant_id, event_id): the first copy in load order, then line order."""
    seen: dict[tuple[str, str], Event] = {}
    for load in loads:
        for ev in load:
            seen.setdefault(key(ev, ev["event_id"]), ev)
    return list(seen.values())


def model_calls(events: list[Event], loads: Iterable[list[Event]]) -> list[Event]:
    """One model call event per (tenant_id, model_call_id), first loaded wins."""
    kept = {key(e, e["event_id"]) for e in events}
    out: dict[tuple[str, str], Event] = {}
    for load in loads:
        for ev in load:
            if key(ev, ev["event_id"]) in kept and ev["event_type"].startswith("model_call."):
                out.setdefault(key(ev, ev["model_call"]["model_call_id"]), ev)
                kept.discard(key(ev, ev["event_id"]))
    return list(out.values())


def usage(ev: Event) -> dict[str, int]:
    u = ev.get("resource_usage") or {}
    return {
        "input_tokens": u.get("input_tokens", 0),
        "output_tokens": u.get("output_tokens", 0),
        "cached_tokens": u.get("cached_tokens", 0),
        "cache_write_tokens": u.get("cache_write_tokens", 0),
        "reasoning_tokens": u.get("reasoning_tokens", 0),
    }


@dataclass
class Run:
    run_id: str
    status: str = "running"
    steps: set[str] = field(default_factory=set)
    model_calls: int = 0
    failed_model_calls: int = 0
    tokens: Counter = field(default_factory=Counter)
    error_code: str | None = None


def runs(events: list[Event], calls: list[Event]) -> dict[tuple[str, str], Run]:
    """Per (tenant_id, run_id): status (failed > completed's status > running), steps, calls
    and tokens."""
    out: dict[tuple[str, str], Run] = {}
    by_run: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for ev in events:
        by_run[key(ev, ev["run"]["run_id"])].append(ev)
    for run_key, evs in by_run.items():
        r = out[run_key] = Run(run_key[1])
        types = {e["event_type"] for e in evs}
        if "run.failed" in types:
            r.status = "failed"
            r.error_code = next(e["error"]["code"] for e in evs if e["event_type"] == "run.failed")
        elif "run.completed" in types:
            last = max(
                (e for e in evs if e["event_type"] == "run.completed"),
                key=lambda e: e["occurred_at"],
            )
            reported = last["run"].get("status")
            r.status = reported if reported in ("cancelled", "failed") else "succeeded"
        r.steps = {e["step"]["step_id"] for e in evs if "step" in e}
    for ev in calls:
        r = out[key(ev, ev["run"]["run_id"])]
        r.model_calls += 1
        r.failed_model_calls += ev["event_type"] == "model_call.failed"
        r.tokens.update(usage(ev))
    return out


def hour_of(ev: Event) -> datetime:
    return parse_ts(ev["occurred_at"]).replace(minute=0, second=0, microsecond=0)


def quantile_cont(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (DuckDB quantile_cont, numpy 'linear')."""
    if not values:
        return None
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (pos - lo) * (xs[hi] - xs[lo])


def dims(ev: Event, with_model: bool) -> tuple:
    t, r = ev["tenant"], ev["run"]
    mc = ev.get("model_call") or {}
    provider = mc["provider"].strip().lower() if with_model else None
    model = mc["model"].strip().lower() if with_model else None
    return (
        t["tenant_id"],
        t["workspace_id"],
        t["project_id"],
        r["agent_id"],
        r.get("workflow_id"),
        provider,
        model,
    )


def hourly(events: list[Event], calls: list[Event]) -> dict[tuple, dict[str, Any]]:
    """(hour, dims) -> runs, model_calls, failures, tool_calls, tokens, latencies."""
    out: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {"runs": 0, "model_calls": 0, "failures": 0, "tool_calls": 0,
                 "input_tokens": 0, "output_tokens": 0, "latencies": []}
    )  # fmt: skip
    for ev in events:
        et = ev["event_type"]
        if et.startswith("model_call."):
            continue
        key = (hour_of(ev), *dims(ev, with_model=False))
        if et == "run.started":
            out[key]["runs"] += 1
        if et.startswith("tool_call."):
            out[key]["tool_calls"] += 1
        if et.endswith(".failed"):
            out[key]["failures"] += 1
    for ev in calls:
        b = out[(hour_of(ev), *dims(ev, with_model=True))]
        b["model_calls"] += 1
        b["failures"] += ev["event_type"] == "model_call.failed"
        u = usage(ev)
        b["input_tokens"] += u["input_tokens"]
        b["output_tokens"] += u["output_tokens"]
        if ev["model_call"].get("latency_ms") is not None:
            b["latencies"].append(float(ev["model_call"]["latency_ms"]))
    return dict(out)

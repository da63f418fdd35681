"""Small, deterministic agent telemetry for the warehouse tests: plain event dicts.

The tests compute what the marts must hold from these dicts with plain Python (the
independent computation), load them through the real loader and compare.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

Event = dict[str, Any]

TENANTS = {
    "acme": [("acme-prod", "acme-support"), ("acme-prod", "acme-sales")],
    "globex": [("globex-main", "globex-research")],
}
AGENTS = ["triage-agent", "research-agent", "billing-agent"]
WORKFLOWS = ["support-ticket", "deep-research", None]
MODELS = [
    ("openai", "gpt-4o-2024-08-06"),
    ("OpenAI", " GPT-4o-mini "),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("openai", "no-such-model-xyz"),
]


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


@dataclass
class Fixture:
    """Events by load: `loads[i]` is the list of lines (dicts) of the i-th JSONL file."""

    loads: list[list[Event]] = field(default_factory=list)

    def all_lines(self) -> list[Event]:
        return [e for load in self.loads for e in load]

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, load in enumerate(self.loads):
            path = directory / f"load-{i:03d}.jsonl"
            path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in load))
            paths.append(path)
        return paths


def make_run(
    rng: random.Random,
    run_no: int,
    start: datetime,
    outcome: str,
    tenant: tuple[str, str, str] | None = None,
) -> list[Event]:
    """Events of one run. outcome: succeeded, failed, cancelled, running."""
    if tenant is None:
        tenant_id = rng.choice(sorted(TENANTS))
        workspace_id, project_id = rng.choice(TENANTS[tenant_id])
    else:
        tenant_id, workspace_id, project_id = tenant
    agent_id = rng.choice(AGENTS)
    workflow_id = rng.choice(WORKFLOWS)
    run_id = f"run-{run_no:05d}"
    trace_id = _hex(rng, 32)
    root_span = _hex(rng, 16)
    run: dict[str, Any] = {"run_id": run_id, "agent_id": agent_id}
    if workflow_id:
        run["workflow_id"] = workflow_id
    base = {
        "event_version": "0",
        "tenant": {"tenant_id": tenant_id, "workspace_id": workspace_id, "project_id": project_id},
    }
    seq = 0
    t = start
    events: list[Event] = []

    def ev(event_type: str, at: datetime, parent: str | None = root_span, **sections) -> Event:
        nonlocal seq
        seq += 1
        e = copy.deepcopy(base)
        e["event_id"] = f"{run_id}-e{seq:03d}"
        e["event_type"] = event_type
        e["occurred_at"] = _ts(at)
        e["run"] = dict(run, **sections.pop("run_extra", {}))
        span = root_span if parent is None else _hex(rng, 16)
        e["trace"] = {"trace_id": trace_id, "span_id": span, "parent_span_id": parent}
        e.update(sections)
        events.append(e)
        return e

    ev("run.started", t, parent=None, run_extra={"status": "running", "started_at": _ts(t)})
    totals = {"input_tokens": 0, "output_tokens": 0}
    n_steps = rng.randint(1, 3)
    for s in range(n_steps):
        step_id = f"{run_id}-s{s}"
        t += timedelta(milliseconds=rng.randint(10, 500))
        ev("step.started", t, step={"step_id": step_id, "step_type": "llm"})
        for c in range(rng.randint(1, 3)):
            provider, model = rng.choice(MODELS)
            inp = rng.randint(100, 5000)
            cached = rng.randint(0, inp // 2)
            cache_write = rng.randint(0, (inp - cached) // 4)
            out = rng.randint(10, 2000)
            reasoning = rng.randint(0, out // 3)
            usage = {"input_tokens": inp, "output_tokens": out}
            if cached:
                usage["cached_tokens"] = cached
            if cache_write:
                usage["cache_write_tokens"] = cache_write
            if reasoning:
                usage["reasoning_tokens"] = reasoning
            if rng.random() < 0.5:
                usage["total_tokens"] = inp + out
            latency = round(rng.uniform(50, 4000), 3)
            t += timedelta(milliseconds=int(latency))
            failed = rng.random() < 0.15
            mc = {
                "model_call_id": f"{step_id}-mc{c}",
                "provider": provider,
                "model": model,
                "step_id": step_id,
                "latency_ms": latency,
                "request_id": f"req-{_hex(rng, 8)}",
            }
            sections: dict[str, Any] = {"model_call": mc, "resource_usage": usage}
            if rng.random() < 0.3:
                sections["cost"] = {"cost_usd": round(rng.uniform(0, 0.05), 6), "currency": "USD"}
            if failed:
                sections["error"] = {
                    "code": rng.choice(["rate_limited", "timeout", "context_length"]),
                    "message": "provider error",
                    "type": "provider",
                    "retryable": True,
                }
            ev("model_call.failed" if failed else "model_call.completed", t, **sections)
            totals["input_tokens"] += inp
            totals["output_tokens"] += out
        if rng.random() < 0.6:
            t += timedelta(milliseconds=rng.randint(5, 300))
            tool_failed = rng.random() < 0.2
            sections = {
                "tool_call": {
                    "tool_call_id": f"{step_id}-tc0",
                    "tool_name": rng.choice(["search", "sql", "http"]),
                    "step_id": step_id,
                    "latency_ms": rng.randint(5, 300),
                }
            }
            if tool_failed:
                sections["error"] = {"code": "tool_error", "message": "tool broke"}
            ev("tool_call.failed" if tool_failed else "tool_call.completed", t, **sections)
        t += timedelta(milliseconds=5)
        ev("step.completed", t, step={"step_id": step_id, "step_type": "llm", "status": "ok"})
    if rng.random() < 0.3:
        t += timedelta(milliseconds=3)
        ev(
            "policy.decision",
            t,
            policy={
                "policy_id": "pii-guard",
                "decision": rng.choice(["allow", "block", "escalate", "redact"]),
                "rule": "no-pii",
                "reason": "checked output",
                "actor": {"actor_type": "service", "actor_id": "guard"},
            },
        )
    t += timedelta(milliseconds=7)
    rollup = dict(totals)
    if rng.random() < 0.1:  # a producer whose own roll-up disagrees with its calls
        rollup["input_tokens"] += 1
    extra = {"started_at": _ts(start), "ended_at": _ts(t)}
    if outcome == "succeeded":
        ev("run.completed", t, run_extra=dict(extra, status="succeeded"), resource_usage=rollup)
    elif outcome == "cancelled":
        ev("run.completed", t, run_extra=dict(extra, status="cancelled"), resource_usage=rollup)
    elif outcome == "failed":
        ev(
            "run.failed",
            t,
            run_extra=dict(extra, status="failed"),
            resource_usage=rollup,
            error={
                "code": "agent_crashed",
                "message": "gave up",
                "type": "agent",
                "retryable": False,
            },
        )
    return events


def make_fixture(seed: int = 7, runs: int = 60, start: datetime | None = None) -> Fixture:
    """Two loads of runs over two days, plus duplicates (identical and conflicting)."""
    rng = random.Random(seed)
    start = start or datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    outcomes = ["succeeded"] * 6 + ["failed", "cancelled", "running"]
    events: list[Event] = []
    for i in range(runs):
        at = start + timedelta(minutes=rng.randint(0, 60 * 26))
        events.extend(make_run(rng, i, at, rng.choice(outcomes)))
    budget_hit = {
        "event_version": "0",
        "event_id": "budget-hit-1",
        "event_type": "budget.threshold_hit",
        "occurred_at": _ts(start + timedelta(hours=3)),
        "tenant": {"tenant_id": "acme", "workspace_id": "acme-prod", "project_id": "acme-support"},
        "run": {"run_id": "run-00000", "agent_id": "triage-agent"},
        "trace": {"trace_id": "a" * 32, "span_id": "b" * 16, "parent_span_id": None},
        "budget": {
            "budget_id": "acme-daily",
            "scope": "tenant",
            "scope_id": "acme",
            "period": "daily",
            "period_start": _ts(start.replace(hour=0)),
            "limit_usd": 25,
            "threshold_pct": 80,
            "spend_usd": 20.5,
            "enforcement": "alert",
        },
    }
    alert = copy.deepcopy(budget_hit)
    alert.pop("budget")
    alert.update(
        event_id="alert-1",
        event_type="alert.emitted",
        alert={
            "alert_id": "alert-1",
            "alert_type": "error_rate",
            "threshold": 0.2,
            "current_value": 0.31,
            "destination": "slack:#ops",
            "sent_at": _ts(start + timedelta(hours=3, seconds=2)),
        },
    )
    events += [budget_hit, alert]
    events.sort(key=lambda e: e["occurred_at"])
    half = len(events) // 2
    first, second = events[:half], events[half:]
    # Producer retries: identical copies in the second load, and one conflicting copy.
    second = second + [copy.deepcopy(e) for e in first[:5]]
    conflicting = copy.deepcopy(first[10])
    conflicting["attributes"] = {"retry": True}
    second.append(conflicting)
    return Fixture([first, second])

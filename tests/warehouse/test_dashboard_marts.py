"""The marts the dashboard reads (fct_spans, agg_workflow_runs_hourly, budget_scopes,
fct_loads) over two tenants that use the same ids and names (tests/two_tenants.py): every row
against the same figures computed here in Python from the events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.two_tenants import RUNS, SHARED, Corpus, price, reused_call, rows, run_events

pytestmark = pytest.mark.slow

# A span's kind from its events' types, in this order of precedence.
KINDS = [
    ("run.", "run"),
    ("step.", "step"),
    ("model_call.", "model_call"),
    ("tool_call.", "tool_call"),
    ("policy.", "policy"),
]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def utc(row: tuple, *positions: int) -> tuple:
    """The row with its timestamps at `positions` in UTC (DuckDB returns the session zone)."""
    return tuple(v.astimezone(UTC) if i in positions else v for i, v in enumerate(row))


def expected_spans(corpus: Corpus) -> dict[tuple[str, str, str], tuple]:
    """(tenant, run, span) -> (parent, kind, started_at, ended_at, is_failed, events,
    model_calls, total_tokens, cost_usd, error_code, policy_decision, tool_name, step_type)."""
    out = {}
    for tenant, counted in corpus.events.items():
        # zeta's reused model_call_id is an event of its span, but not a second call
        events = [*counted, reused_call()] if tenant == "zeta" else counted
        by_span: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for e in events:
            by_span[(e["run"]["run_id"], e["trace"]["span_id"])].append(e)
        calls = {
            (e["run"]["run_id"], e["trace"]["span_id"]): e for e in counted if "model_call" in e
        }
        for (run_id, span_id), group in by_span.items():
            types = {e["event_type"] for e in group}
            kind = next(k for prefix, k in KINDS if any(t.startswith(prefix) for t in types))
            first = min(at(e["occurred_at"]) for e in group)
            last = max(at(e["occurred_at"]) for e in group)
            call = calls.get((run_id, span_id))
            started = first
            if call is not None:
                started = last - timedelta(milliseconds=call["model_call"]["latency_ms"])
            usage = call["resource_usage"] if call else None
            failed = [e for e in group if e["event_type"].endswith(".failed")]
            policy = next((e["policy"] for e in group if "policy" in e), None)
            tool = next((e["tool_call"] for e in group if "tool_call" in e), None)
            step = next((e["step"] for e in group if "step" in e), None)
            out[(tenant, run_id, span_id)] = (
                group[0]["trace"]["parent_span_id"],
                kind,
                started,
                last,
                bool(failed),
                len(group),
                1 if call else 0,
                usage["input_tokens"] + usage["output_tokens"] if usage else None,
                price(call) if call else None,
                failed[-1]["error"]["code"] if failed else None,
                policy["decision"] if policy else None,
                tool["tool_name"] if tool else None,
                step["step_type"] if step else None,
            )
    return out


def test_spans_of_each_tenants_runs(two_tenants: Corpus) -> None:
    got = {
        row[:3]: utc(row[3:], 2, 3)
        for row in rows(
            two_tenants,
            """
            select tenant_id, run_id, span_id, parent_span_id, span_kind, started_at,
                   ended_at, is_failed, events, model_calls, total_tokens, cost_usd,
                   error_code, policy_decision, tool_name, step_type
            from marts.fct_spans
            """,
        )
    }
    want = expected_spans(two_tenants)
    assert got == want
    # run, step, two model calls, tool call, policy: six spans per run of each tenant
    assert len(got) == 2 * RUNS * 6
    assert got[("zeta", "run-0", f"{3:016x}")][5:7] == (2, 1)  # the reused id: 2 events, 1 call


def test_workflow_hours_of_each_tenant(two_tenants: Corpus) -> None:
    want: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {"runs": 0, "succeeded": 0, "failed": 0, "spend": Decimal(0), "wasted": Decimal(0)}
    )
    for tenant in two_tenants.events:
        for i in range(RUNS):
            events = run_events(tenant, i)
            hour = at(events[0]["occurred_at"]).replace(minute=0, second=0, microsecond=0)
            cost = sum((price(e) for e in events if "model_call" in e), Decimal(0))
            failed = any(e["event_type"] == "run.failed" for e in events)
            w = want[(hour, tenant)]
            w["runs"] += 1
            w["succeeded" if not failed else "failed"] += 1
            w["spend"] += cost
            w["wasted"] += cost if failed else Decimal(0)
    got = {
        (row[0].astimezone(UTC), row[1]): {
            "runs": row[2],
            "succeeded": row[3],
            "failed": row[4],
            "spend": row[5],
            "wasted": row[6],
        }
        for row in rows(
            two_tenants,
            """
            select hour_start, tenant_id, runs, succeeded_runs, failed_runs, spend_usd,
                   wasted_spend_usd
            from marts.agg_workflow_runs_hourly
            """,
        )
    }
    assert got == dict(want)
    dims = rows(
        two_tenants,
        "select distinct workspace_id, project_id, agent_id, workflow_id, failed_call_spend_usd "
        "from marts.agg_workflow_runs_hourly",
    )
    assert dims == [(SHARED["workspace_id"], SHARED["project_id"], "researcher", "triage", 0)]


def test_budget_scopes_resolve_within_their_tenant(two_tenants: Corpus) -> None:
    got = rows(two_tenants, "select * from marts.budget_scopes order by budget_id")
    # Both tenants name a project alike; each budget covers its own tenant's only.
    project = SHARED["project_id"]
    assert got == [
        (f"{t}-support", t, "project", project, "prod", project, "researcher")
        for t in ("acme", "zeta")
    ]


def test_loads_hold_the_loaders_counts_and_their_rows(two_tenants: Corpus) -> None:
    records = rows(
        two_tenants,
        """
        select load_id, loaded_at, accepted_lines, lake_rows, quarantined_lines,
               duplicate_lines, conflicting_model_calls
        from marts.fct_loads order by loaded_at, load_id
        """,
    )
    per_run = len(run_events("acme", 0))
    by_file, conflict, *http = records
    assert by_file[2:] == (2 * 2 * per_run, 2 * 2 * per_run, 0, 0, 0)
    assert conflict[2:] == (1, 1, 0, 0, 1)
    assert sum(r[2] for r in http) == sum(r[3] for r in http) == 2 * (RUNS - 2) * per_run
    assert all(r[4:] == (0, 0, 0) for r in http)
    # A load's loaded_at is its rows' (the events it brought).
    first_rows = dict(
        rows(two_tenants, "select load_id, min(loaded_at) from marts.fct_events group by 1")
    )
    assert {r[0]: r[1] for r in records} == first_rows

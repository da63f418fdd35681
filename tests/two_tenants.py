"""A two-tenant corpus: tenants that happen to use the same ids and names.

The corpus: tenants `acme` and `zeta` each run the same shape of runs with the *same*
event, run, step, model call, tool call, trace and span ids and the same workspace, project
and agent names, but different models and token counts (so every number differs). Half of
it is loaded by file, half over HTTP (one token per tenant). Within `zeta`, one more event
reuses a model_call_id with new content: a conflict, counted, listed and priced once.

The tests (tests/warehouse/test_tenant_isolation.py, tests/app/test_tenant_pages.py)
compute every figure in Python from these events (cost by genai-prices' calc_price) and
compare it with the marts and the dashboard, per tenant.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import genai_prices
import orjson
import pytest
from genai_prices import Usage

from ingestion.files.loader import LoadSummary, load_paths
from orchestration.warehouse.build import build
from tests.ingestion.test_server import ServerProcess, create_token, post

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(hours=3)
TENANTS = {
    # tenant -> (provider, model, token scale): same ids, different spend
    "acme": ("openai", "gpt-4o", 1000),
    "zeta": ("anthropic", "claude-3-5-sonnet-20241022", 337),
}
SHARED = {"workspace_id": "prod", "project_id": "acme-prod-support"}
RUNS = 4  # runs 0-1 by file, 2-3 over HTTP


def ts(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def run_events(tenant: str, i: int) -> list[dict[str, Any]]:
    """One run of `tenant`: ids depend on the run number only, never on the tenant."""
    provider, model, scale = TENANTS[tenant]
    at = START + timedelta(minutes=10 * i)
    trace_id = f"{i:032x}"
    base = {
        "event_version": "0",
        "tenant": {"tenant_id": tenant, **SHARED},
        "run": {"run_id": f"run-{i}", "agent_id": "researcher", "workflow_id": "triage"},
    }

    def event(n: int, event_type: str, span: int, parent: int | None, **sections: Any) -> dict:
        return {
            **copy.deepcopy(base),
            "event_id": f"evt-{i}-{n}",
            "event_type": event_type,
            "occurred_at": ts(at + timedelta(seconds=n)),
            "trace": {
                "trace_id": trace_id,
                "span_id": f"{span:016x}",
                "parent_span_id": None if parent is None else f"{parent:016x}",
            },
            **sections,
        }

    step = {"step_id": "step-1", "step_type": "plan"}
    usage = [
        {"input_tokens": scale * (i + 1), "output_tokens": scale // 10 + i, "cached_tokens": i},
        {"input_tokens": scale * (i + 2) + 5, "output_tokens": scale // 5},
    ]
    calls = [
        event(
            2 + j,
            "model_call.completed",
            3 + j,
            2,
            model_call={
                "model_call_id": f"mc-{i}-{j}",
                "provider": provider,
                "model": model,
                "step_id": "step-1",
                "latency_ms": 100 * (j + 1),
            },
            resource_usage=usage[j],
        )
        for j in range(2)
    ]
    failed = i % 2 == 1 and tenant == "zeta"  # zeta's odd runs fail, acme's succeed
    end = (
        event(
            9,
            "run.failed",
            1,
            None,
            resource_usage={"input_tokens": 0, "output_tokens": 0},
            error={"code": "zeta_boom", "message": "tool exploded"},
        )
        if failed
        else event(
            9, "run.completed", 1, None, resource_usage={"input_tokens": 0, "output_tokens": 0}
        )
    )
    return [
        event(0, "run.started", 1, None),
        event(1, "step.started", 2, 1, step=step),
        *calls,
        event(
            5,
            "tool_call.completed",
            5,
            2,
            tool_call={"tool_call_id": f"tc-{i}", "tool_name": f"{tenant}-search"},
        ),
        event(
            6,
            "policy.decision",
            6,
            2,
            policy={
                "policy_id": "pii",
                "decision": "block" if tenant == "zeta" else "allow",
                "reason": "checked",
                "actor": {"actor_type": "agent", "actor_id": "researcher"},
            },
        ),
        event(7, "step.completed", 2, 1, step={**step, "status": "succeeded"}),
        end,
    ]


def reused_call() -> dict[str, Any]:
    """zeta reuses its own model_call_id mc-0-0 in a new event with other content."""
    ev = copy.deepcopy(run_events("zeta", 0)[2])
    ev["event_id"] = "evt-0-reused"
    ev["resource_usage"] = {"input_tokens": 999_999, "output_tokens": 999_999}
    return ev


def price(ev: dict[str, Any]) -> Decimal:
    u, mc = ev["resource_usage"], ev["model_call"]
    return genai_prices.calc_price(
        Usage(
            input_tokens=u["input_tokens"],
            output_tokens=u["output_tokens"],
            cache_read_tokens=u.get("cached_tokens", 0),
            cache_write_tokens=u.get("cache_write_tokens", 0),
        ),
        model_ref=mc["model"],
        provider_id=mc["provider"],
        genai_request_timestamp=datetime.fromisoformat(ev["occurred_at"]),
    ).total_price


@dataclass
class Corpus:
    data_dir: Path
    events: dict[str, list[dict[str, Any]]]  # tenant -> its counted events (no conflict)
    file_summary: LoadSummary
    conflict_summary: LoadSummary
    http_answers: dict[str, dict[str, Any]]
    budget_checks: dict[str, dict[str, Any]]  # tenant -> its token's /v1/budgets/check


def build_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Load the corpus (by file and over HTTP) and build the warehouse: once per session."""
    base = tmp_path_factory.mktemp("tenants")
    data = base / "data"
    data.mkdir()
    events = {t: [e for i in range(RUNS) for e in run_events(t, i)] for t in TENANTS}
    by_file = [e for t in TENANTS for i in range(2) for e in run_events(t, i)]
    path = base / "two-tenants.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in by_file))
    file_summary = load_paths([path], data, final=True)
    conflict = base / "conflict.jsonl"
    conflict.write_bytes(orjson.dumps(reused_call()) + b"\n")
    conflict_summary = load_paths([conflict], data, final=True)

    tokens = {t: create_token(data, t) for t in TENANTS}
    server = ServerProcess(data, "--flush-interval", "0.2").start()
    answers = {}
    try:
        for tenant, token in tokens.items():
            with server.http(token) as client:
                batch = [e for i in range(2, RUNS) for e in run_events(tenant, i)]
                r = post(client, batch)
                assert r.status_code == 202, r.text
                answers[tenant] = r.json()
        server.wait_flushed()
    finally:
        assert server.stop(), server.log.read_text()[-3000:]
    # One budget each on the project name both tenants use: acme's tiny (blocking), zeta's big.
    budgets = base / "budgets.csv"
    budgets.write_text(
        "budget_id,tenant_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination\n"
        f"acme-support,acme,project,{SHARED['project_id']},daily,0.01,,block,\n"
        f"zeta-support,zeta,project,{SHARED['project_id']},daily,1000,,block,\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTOPS_BUDGETS_FILE", str(budgets))
        result = build(data, dbt_vars={"budget_as_of": ts(NOW)})
    assert result.success, result.summary() + result.output_tail
    checks = {}
    server = ServerProcess(data).start()
    try:
        for tenant, token in tokens.items():
            with server.http(token) as client:
                r = client.get("/v1/budgets/check", params={"project_id": SHARED["project_id"]})
                assert r.status_code == 200, r.text
                checks[tenant] = r.json()
    finally:
        assert server.stop(), server.log.read_text()[-3000:]
    return Corpus(data, events, file_summary, conflict_summary, answers, checks)


def rows(c: Corpus, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """A query straight on the published warehouse."""
    con = duckdb.connect(str(c.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()

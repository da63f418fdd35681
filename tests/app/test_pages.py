"""Every page through Streamlit's AppTest on the fixture warehouse: it runs without an exception
or error box, and the numbers it shows equal the same figures computed in SQL here."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from app.ui import unit_usd
from orchestration.alerts.outbox import Outbox
from orchestration.alerts.rules import BudgetPeriod, threshold_alerts
from tests.app.conftest import PAGES, frame, metric, scalar, sql, usd

pytestmark = pytest.mark.slow


def window(data: Path, hours: int) -> tuple[object, object]:
    """The window a relative preset shows: it ends at the hour after the latest event."""
    end = scalar(
        data, "select date_trunc('hour', max(occurred_at)) + interval 1 hour from marts.fct_events"
    ).to_pydatetime()
    return end - timedelta(hours=hours), end


def ms(value: float) -> str:
    return f"{value:,.0f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_without_error(warehouse_dir: Path, page, name: str) -> None:
    at = page(warehouse_dir, name)
    assert not at.error, [e.value for e in at.error]
    assert at.title, "every page has a title"
    header = " ".join(c.value for c in at.caption)
    assert "data as of" in header  # freshness is always shown


def test_overview_numbers_match_sql(warehouse_dir: Path, page) -> None:
    data = warehouse_dir
    at = page(data, "overview", range="Last 24 hours")
    start, end = window(data, 24)
    prev = [start - timedelta(hours=24), start]
    runs = sql(
        data,
        """
        select count(*) as runs,
               count(*) filter (where run_status = 'succeeded') as ok,
               count(*) filter (where is_ended) as ended,
               count(*) filter (where run_status = 'failed') as failed
        from marts.fct_runs where started_at >= ? and started_at < ?
        """,
        [start, end],
    ).iloc[0]
    prev_runs = scalar(
        data,
        "select count(*) from marts.fct_runs where started_at >= ? and started_at < ?",
        prev,
    )
    calls = sql(
        data,
        """
        select count(*) as calls, sum(total_tokens) as tokens, sum(cost_usd) as spend,
               quantile_cont(latency_ms, 0.5) as p50, quantile_cont(latency_ms, 0.95) as p95
        from marts.fct_model_calls where occurred_at >= ? and occurred_at < ?
        """,
        [start, end],
    ).iloc[0]
    assert runs.runs > 0 and calls.calls > 0, "the 24 h window must hold data"
    assert metric(at, "Runs") == f"{runs.runs:,}"
    assert metric(at, "Success rate") == f"{100 * runs.ok / runs.ended:.1f}%"
    assert metric(at, "Failed runs") == f"{runs.failed:,}"
    assert metric(at, "Model calls") == f"{calls.calls:,}"
    assert metric(at, "Tokens") == f"{int(calls.tokens):,}"
    assert metric(at, "Spend (by call time)") == usd(calls.spend)
    assert metric(at, "Latency p50") == ms(calls.p50)
    assert metric(at, "Latency p95") == ms(calls.p95)
    delta = [m.delta for m in at.metric if m.label == "Runs"][0]
    assert delta == f"{(runs.runs - prev_runs) / prev_runs * 100:+.1f}%"

    running = scalar(data, "select count(*) from marts.fct_runs where run_status = 'running'")
    assert f"Runs in progress now: {running:,}" in [h.value for h in at.subheader]

    # Spend that bought nothing: failed/cancelled runs, and failed calls of the other runs.
    waste = scalar(
        data,
        """
        with runs as (
            select run_id, run_status, cost_usd from marts.fct_runs
            where started_at >= ? and started_at < ?
        )
        select coalesce((select sum(cost_usd) from runs
                         where run_status in ('failed', 'cancelled')), 0)
             + coalesce((select sum(c.cost_usd) from marts.fct_model_calls c
                         join runs r on c.run_id = r.run_id
                         where c.is_failed and r.run_status not in ('failed', 'cancelled')), 0)
        """,
        [start, end],
    )
    assert metric(at, "Spend that bought nothing") == usd(waste)

    shown = frame(at, "workflow_id", "succeeded_runs", "wasted_usd")
    expected = sql(
        data,
        """
        select coalesce(workflow_id, '(no workflow)') as workflow_id, count(*) as runs,
               count(*) filter (where run_status = 'succeeded') as succeeded_runs,
               coalesce(sum(cost_usd), 0) as spend_usd
        from marts.fct_runs where started_at >= ? and started_at < ?
        group by all
        """,
        [start, end],
    )
    got = shown.set_index("workflow_id")[["runs", "succeeded_runs", "spend_usd"]].sort_index()
    want = expected.set_index("workflow_id").sort_index()
    assert list(got.index) == list(want.index)
    assert list(got.runs) == list(want.runs)
    assert list(got.succeeded_runs) == list(want.succeeded_runs)
    assert [Decimal(x) for x in got.spend_usd] == [Decimal(x) for x in want.spend_usd]

    # cost per successful run: the spend of succeeded runs over their number only
    ok_spend, ok_runs, running = sql(
        data,
        """
        select coalesce(sum(cost_usd) filter (where run_status = 'succeeded'), 0),
               count(*) filter (where run_status = 'succeeded'),
               count(*) filter (where run_status = 'running')
        from marts.fct_runs where started_at >= ? and started_at < ?
        """,
        [start, end],
    ).iloc[0]
    assert ok_runs > 0 and running > 0, "the window holds running runs, kept out"
    assert metric(at, "Cost per successful run") == unit_usd(Decimal(ok_spend) / int(ok_runs))


def test_filters_come_from_the_url_and_apply(warehouse_dir: Path, page) -> None:
    data = warehouse_dir
    tenant = scalar(data, "select min(tenant_id) from marts.fct_runs")
    at = page(data, "overview", range="All time", tenant=tenant)
    assert at.sidebar.selectbox(key="tenant").value == tenant
    workspaces = set(
        sql(
            data, "select distinct workspace_id from marts.fct_runs where tenant_id = ?", [tenant]
        ).workspace_id
    )
    assert set(at.sidebar.selectbox(key="workspace").options) == workspaces
    runs = scalar(data, "select count(*) from marts.fct_runs where tenant_id = ?", [tenant])
    spend = scalar(
        data, "select sum(cost_usd) from marts.fct_model_calls where tenant_id = ?", [tenant]
    )
    assert metric(at, "Runs") == f"{runs:,}"
    assert metric(at, "Spend (by call time)") == usd(spend)
    # A value the data does not have is dropped, not an error.
    at = page(data, "overview", range="All time", tenant="no-such-tenant")
    total = scalar(data, "select count(*) from marts.fct_runs")
    assert metric(at, "Runs") == f"{total:,}"
    # Custom dates: whole UTC days, the last one included.
    at = page(data, "overview", range="Custom dates", dates=["2026-11-02", "2026-11-02"])
    day = scalar(
        data,
        "select count(*) from marts.fct_runs where started_at >= '2026-11-02 00:00:00+00' "
        "and started_at < '2026-11-03 00:00:00+00'",
    )
    assert 0 < day < total
    assert metric(at, "Runs") == f"{day:,}"


def test_failures_numbers_match_sql(warehouse_dir: Path, page) -> None:
    data = warehouse_dir
    at = page(data, "failures", range="All time")
    k = sql(
        data,
        """
        select count(*) as failures,
               count(*) filter (where failed_entity = 'run') as runs,
               count(*) filter (where failed_entity = 'model_call') as calls,
               count(*) filter (where failed_entity = 'tool_call') as tools,
               count(distinct error_code) as codes
        from marts.fct_failures
        """,
    ).iloc[0]
    assert metric(at, "Failures") == f"{k.failures:,}"
    assert metric(at, "Failed runs") == f"{k.runs:,}"
    assert metric(at, "Failed model calls") == f"{k.calls:,}"
    assert metric(at, "Failed tool calls") == f"{k.tools:,}"
    assert metric(at, "Error codes") == f"{k.codes:,}"

    by_code = frame(at, "error_code", "runs_affected")
    expected = sql(
        data,
        """
        select error_code, count(*) as failures, count(distinct run_id) as runs_affected
        from marts.fct_failures group by all order by failures desc, error_code
        """,
    )
    assert by_code[["error_code", "failures", "runs_affected"]].values.tolist() == (
        expected.values.tolist()
    )

    recent = frame(at, "event_id", "error_message", "trace")
    latest = sql(
        data,
        "select event_id, run_id from marts.fct_failures "
        "order by occurred_at desc, event_id limit 200",
    )
    assert list(recent.event_id) == list(latest.event_id)
    # Each row leads to its run's trace, keeping the view's filters.
    for link, run_id in zip(recent.trace, recent.run_id, strict=True):
        assert link.startswith("traces?") and f"run={run_id}" in link and "range=All+time" in link


def test_cost_numbers_match_sql(warehouse_dir: Path, page) -> None:
    data = warehouse_dir
    tenant = scalar(data, "select min(tenant_id) from marts.fct_runs")
    at = page(data, "cost", range="All time", tenant=tenant)
    calls = sql(
        data,
        """
        select sum(cost_usd) as spend, count(*) filter (where price_status = 'unpriced') as u,
               count(*) filter (where price_status = 'priced') as p
        from marts.fct_model_calls where tenant_id = ?
        """,
        [tenant],
    ).iloc[0]
    assert metric(at, "Spend") == usd(calls.spend)
    assert metric(at, "Priced calls") == f"{calls.p:,}"
    assert metric(at, "Unpriced calls") == f"{calls.u:,}"

    by_provider = frame(at, "provider", "spend_usd", "unpriced_calls")
    expected = sql(
        data,
        """
        select provider, sum(cost_usd) as spend_usd, count(*) as model_calls,
               count(*) filter (where price_status = 'unpriced') as unpriced_calls
        from marts.fct_model_calls where tenant_id = ? group by all order by provider
        """,
        [tenant],
    )
    got = by_provider.sort_values("provider", ignore_index=True)
    assert list(got.provider) == list(expected.provider)
    assert list(got.model_calls) == list(expected.model_calls)
    assert list(got.unpriced_calls) == list(expected.unpriced_calls)
    # Exact money, and NULL (not 0) where every call is unpriced.
    for shown, want in zip(got.spend_usd, expected.spend_usd, strict=True):
        assert (shown is None or pd.isna(shown)) if want is None else Decimal(shown) == want

    tokens = frame(at, "kind", "tokens").set_index("kind").tokens
    sums = sql(
        data,
        """
        select sum(input_tokens) i, sum(cached_tokens) c, sum(cache_write_tokens) w,
               sum(output_tokens) o, sum(reasoning_tokens) r, sum(total_tokens) t
        from marts.fct_model_calls where tenant_id = ?
        """,
        [tenant],
    ).iloc[0]
    assert tokens["input (incl. cache reads and writes)"] == sums.i
    assert tokens["cache read"] == sums.c
    assert tokens["cache write"] == sums.w
    assert tokens["output (incl. reasoning)"] == sums.o
    assert tokens["reasoning"] == sums.r
    assert tokens["total (input + output)"] == sums.t

    unpriced = frame(at, "model", "first_seen_at")
    expected_unpriced = sql(
        data,
        """
        select provider, model, count(*) as model_calls, sum(input_tokens) as input_tokens
        from marts.fct_model_calls where price_status = 'unpriced' and tenant_id = ?
        group by all order by model_calls desc, provider, model
        """,
        [tenant],
    )
    assert unpriced[["provider", "model", "model_calls", "input_tokens"]].values.tolist() == (
        expected_unpriced.values.tolist()
    )

    ledger = frame(at, "reason", "entries")
    expected_ledger = sql(
        data,
        """
        select reason, count(*) as entries, sum(cost_usd) as cost_usd
        from marts.fct_cost_ledger where tenant_id = ? group by all order by reason
        """,
        [tenant],
    )
    got = ledger.groupby("reason", as_index=False).agg(entries=("entries", "sum"))
    assert got.values.tolist() == expected_ledger[["reason", "entries"]].values.tolist()
    usage_cost = ledger.loc[ledger.reason == "usage", "cost_usd"].map(Decimal).sum()
    assert usage_cost == expected_ledger.set_index("reason").cost_usd["usage"]


def test_budget_page_opens_on_the_budget_an_alert_links_to(warehouse_dir: Path, page) -> None:
    ids = list(
        sql(
            warehouse_dir,
            "select budget_id from marts.budget_status where period_kind = 'current' "
            "order by budget_id",
        ).budget_id
    )
    assert len(ids) > 1
    at = page(warehouse_dir, "budgets", budget_id=ids[1])
    assert list(frame(at, "budget_id").budget_id) == [ids[1]]
    assert metric(at, "Budgets") == "1"
    assert any(ids[1] in i.value for i in at.info)
    unknown = page(warehouse_dir, "budgets", budget_id="no-such-budget")
    assert sorted(frame(unknown, "budget_id").budget_id) == ids
    assert any("no-such-budget" in w.value for w in unknown.warning)


def test_budgets_match_budget_status(warehouse_dir: Path, page) -> None:
    data = warehouse_dir
    at = page(data, "budgets")
    shown = frame(at, "budget_id", "limit_usd", "spend_usd")
    expected = sql(
        data,
        """
        select budget_id, spend_usd, limit_usd, forecast_usd, is_over_limit,
               is_forecast_over_limit
        from marts.budget_status where period_kind = 'current' order by budget_id
        """,
    )
    got = shown.sort_values("budget_id", ignore_index=True)
    assert list(got.budget_id) == list(expected.budget_id)
    assert [Decimal(x) for x in got.spend_usd] == list(expected.spend_usd)
    assert [Decimal(x) for x in got.forecast_usd] == list(expected.forecast_usd)
    assert expected.spend_usd.map(Decimal).sum() > 0, "AS_OF puts spend in current periods"
    assert metric(at, "Budgets") == str(len(expected))
    assert metric(at, "Over limit") == str(int(expected.is_over_limit.sum()))
    forecast_only = (expected.is_forecast_over_limit & ~expected.is_over_limit).sum()
    assert metric(at, "Forecast over limit") == str(int(forecast_only))


def test_budgets_shown_are_those_whose_scope_the_filters_leave(warehouse_dir: Path, page) -> None:
    """Under a tenant and one of its projects, the budgets on the tenant, and on a workspace,
    project or agent that events of that project named; not a budget on another project."""
    data = warehouse_dir
    project = scalar(
        data,
        "select min(project_id) from marts.fct_events "
        "where tenant_id = 'acme' and project_id <> 'acme-prod-finance'",
    )
    at = page(data, "budgets", tenant="acme", project=project)
    covered = sql(
        data,
        """
        select b.budget_id
        from marts.budget_status as b
        where b.period_kind = 'current' and b.tenant_id = 'acme' and exists (
            select 1 from marts.fct_events as e
            where e.tenant_id = b.tenant_id and e.project_id = ?
                and b.scope_id = case b.scope
                    when 'tenant' then e.tenant_id when 'workspace' then e.workspace_id
                    when 'project' then e.project_id else e.agent_id end
        )
        order by 1
        """,
        [project],
    )
    assert list(covered.budget_id) == ["acme-daily", "acme-monthly"]
    assert sorted(frame(at, "budget_id", "spend_usd").budget_id) == list(covered.budget_id)
    assert metric(at, "Budgets") == "2"


def test_governance_numbers_match_sql(warehouse_dir: Path, page) -> None:
    data = warehouse_dir
    at = page(data, "governance", range="All time")
    k = sql(
        data,
        """
        select count(*) as n,
               count(*) filter (where decision = 'block') as b,
               count(*) filter (where decision = 'escalate') as e,
               count(*) filter (where decision = 'redact') as r
        from marts.fct_policy_decisions
        """,
    ).iloc[0]
    assert metric(at, "Decisions") == f"{k.n:,}"
    assert metric(at, "Blocked") == f"{k.b:,}"
    assert metric(at, "Escalated") == f"{k.e:,}"
    assert metric(at, "Redacted") == f"{k.r:,}"
    flagged = frame(at, "decision", "rule", "reason", "actor_id")
    assert len(flagged) == min(200, k.b + k.e)
    assert set(flagged.decision) <= {"block", "escalate"}
    by_policy = frame(at, "policy_id", "allow")
    expected = sql(
        data,
        "select policy_id, count(*) filter (where decision = 'allow') as allow "
        "from marts.fct_policy_decisions group by all order by policy_id",
    )
    assert by_policy[["policy_id", "allow"]].values.tolist() == expected.values.tolist()


def test_trace_waterfall_matches_the_run(warehouse_dir: Path, page) -> None:
    data = warehouse_dir
    run = sql(
        data,
        """
        select run_id, trace_id, model_calls, total_tokens, cost_usd
        from marts.fct_runs
        where run_status = 'failed' and model_calls > 1 and unpriced_calls = 0
        order by events desc, run_id limit 1
        """,
    ).iloc[0]
    at = page(data, "traces", run=run.run_id)
    assert at.text_input(key="run").value == run.run_id
    spans = frame(at, "span_id", "kind", "duration_ms")
    events = sql(
        data,
        "select count(distinct span_id) as spans, "
        "count(distinct span_id) filter (where is_failed) as failed "
        "from marts.fct_events where run_id = ?",
        [run.run_id],
    ).iloc[0]
    assert len(spans) == events.spans
    assert (spans.status == "failed").sum() == events.failed
    assert (spans.kind == "model call").sum() == run.model_calls
    assert spans.total_tokens.fillna(0).sum() == run.total_tokens
    assert spans.cost_usd.dropna().map(Decimal).sum() == run.cost_usd
    assert (spans.duration_ms >= 0).all()
    assert metric(at, "Model calls") == f"{run.model_calls:,}"
    # The trace id finds the same run.
    at = page(data, "traces", trace=run.trace_id)
    assert list(frame(at, "run_id", "run_status").run_id) == [run.run_id]


def test_data_health_matches_the_lake(warehouse_dir: Path, page) -> None:
    data = warehouse_dir
    at = page(data, "data_health")
    records = [json.loads(p.read_text()) for p in (data / "lake" / "_loads").glob("*.json")]
    assert metric(at, "Loads") == str(len(records))
    assert metric(at, "Events accepted") == f"{sum(r['accepted'] for r in records):,}"
    assert metric(at, "Duplicates skipped") == f"{sum(r['duplicates'] for r in records):,}"
    lines = [
        json.loads(line)
        for p in (data / "quarantine").glob("*.jsonl")
        for line in p.read_text().splitlines()
        if line.strip()
    ]
    assert metric(at, "Lines quarantined") == f"{len(lines):,}"
    reasons = frame(at, "reason_code", "lines")
    assert dict(zip(reasons.reason_code, reasons.lines, strict=True)) == dict(
        Counter(line["reason_code"] for line in lines)
    )
    examples = frame(at, "reason_code", "raw", "line_no")
    assert len(examples) > 0 and examples.reason_code.nunique() == 1
    assert metric(at, "Events in the warehouse") == (
        f"{scalar(data, 'select count(*) from marts.fct_events'):,}"
    )
    dupes = scalar(data, "select count(*) from data_quality.dq_duplicate_events")
    assert metric(at, "Duplicate copies") == f"{dupes:,}"
    assert "Every committed load is in the published warehouse." in [s.value for s in at.success]


@pytest.mark.parametrize("name", list(PAGES))
def test_missing_warehouse_is_explained(tmp_path: Path, page, name: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    at = page(data, name)
    assert not at.error
    texts = " ".join(i.value for i in at.info)
    assert "No warehouse yet" in texts and "agentops-wh build" in texts
    assert "agentops-wh load" in texts and "POST /v1/events" in texts
    assert not (data / "warehouse.duckdb").exists(), "the app never creates the warehouse"


@pytest.mark.parametrize("name", list(PAGES))
def test_empty_warehouse_says_how_to_send_the_first_event(
    empty_warehouse_dir: Path, page, name: str
) -> None:
    at = page(empty_warehouse_dir, name)
    assert not at.error, [e.value for e in at.error]
    texts = " ".join(i.value for i in at.info)
    if name == "data_health":
        assert "Nothing has been loaded yet" in texts
        assert metric(at, "Events in the warehouse") == "0"
    else:
        assert "no events yet" in texts and "agentops-wh load" in texts


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "missing a table"),  # an empty database: no marts yet
        (b"this is not a duckdb file" * 100, "Could not open the warehouse"),
    ],
    ids=["no-marts", "not-duckdb"],
)
def test_unreadable_warehouse_is_a_message_not_a_traceback(
    tmp_path: Path, page, content: bytes, expected: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "warehouse.duckdb"
    if content:
        path.write_bytes(content)
    else:
        import duckdb

        duckdb.connect(str(path)).close()
    for name in PAGES:
        at = page(data, name)
        errors = " ".join(e.value for e in at.error)
        assert expected in errors and "agentops-wh build" in errors, (name, errors)


def test_budgets_on_a_scope_no_event_named_are_flagged(warehouse_dir: Path, page) -> None:
    """The fixture's tenant acme never ran an agent `acme-reviewer` (the sample budgets follow
    the demo's seed, not this one): its budget is flagged, not silently shown at $0."""
    status = sql(
        warehouse_dir,
        "select budget_id, tenant_id, is_scope_seen, spend_usd from marts.budget_status "
        "where period_kind = 'current' order by budget_id",
    )
    unseen = status[~status.is_scope_seen]
    assert list(unseen.budget_id) == ["acme-reviewer-daily"]
    assert list(unseen.spend_usd) == [Decimal(0)]
    at = page(warehouse_dir, "budgets")
    shown = frame(at, "budget_id", "is_scope_seen").sort_values("budget_id", ignore_index=True)
    assert list(zip(shown.budget_id, shown.tenant_id, shown.is_scope_seen, strict=True)) == list(
        zip(status.budget_id, status.tenant_id, status.is_scope_seen, strict=True)
    )
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith(
        "No event of its tenant ever named the scope of 1 budget(s): `acme-reviewer-daily` "
        "(agent `acme-reviewer` of tenant `acme`)."
    )


def test_budget_alerts_show_their_delivery_status(
    warehouse_dir: Path, tmp_path: Path, page
) -> None:
    """Alert history from fct_alerts (rows added to a copy: the fixture data raises none)."""
    import shutil

    import duckdb

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(warehouse_dir / "warehouse.duckdb", data / "warehouse.duckdb")
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    try:
        for key, status, when in [
            ("budget:acme:acme-daily:2026-11-03T00:00:00Z:80", "sent", "2026-11-03 12:00:00+00"),
            ("budget:acme:acme-daily:2026-11-03T00:00:00Z:100", "failed", "2026-11-03 15:00:00+00"),
            ("alert:acme:outbox-only", "pending", None),
        ]:
            con.execute(
                "insert into marts.fct_alerts (dedupe_key, alert_id, alert_source, alert_type, "
                "tenant_id, budget_id, threshold, destination, delivery_status, "
                "delivery_attempts, first_occurred_at, event_count) "
                "values (?, ?, 'budget.threshold_hit', 'budget_threshold', 'acme', "
                "'acme-daily', 80, 'slack:#acme-finance', ?, 1, cast(? as timestamptz), 1)",
                [key, key, status, when],
            )
        con.execute("checkpoint")
    finally:
        con.close()
    at = page(data, "budgets", range="All time")
    assert metric(at, "Alerts sent") == "1"
    assert metric(at, "Alerts failed") == "1"
    assert metric(at, "Alerts pending") == "1"
    alerts = frame(at, "delivery_status", "dedupe_key")
    assert sorted(alerts.delivery_status) == ["failed", "pending", "sent"]
    # Each alert links to its budget, naming the budget's tenant (budget ids are per tenant).
    assert set(alerts.budget) == {"budgets?tenant=acme&budget_id=acme-daily"}
    # Another tenant's view does not list acme's alerts.
    other = scalar(data, "select max(tenant_id) from marts.fct_runs")
    at = page(data, "budgets", range="All time", tenant=other)
    assert not [m for m in at.metric if m.label.startswith("Alerts ")]


def test_cost_reconciliation_mismatches_first(warehouse_dir: Path, page) -> None:
    """The statement the fixture imported reaches the mart through a real build, and the Cost
    page lists the provider-days that do not match first."""
    data = warehouse_dir
    at = page(data, "cost", range="All time")
    shown = frame(at, "usage_date", "status", "invoiced_usd")
    expected = sql(
        data,
        """
        select usage_date, provider, status, ledger_usd, invoiced_usd, diff_usd
        from marts.fct_cost_reconciliation order by usage_date, provider
        """,
    )
    ledger = sql(
        data,
        """
        select provider, cast(occurred_at as date) as usage_date, sum(cost_usd) as ledger_usd
        from marts.fct_cost_ledger group by all
        """,
    )
    nov_1 = ledger[(ledger.provider == "openai") & (ledger.usage_date == date(2026, 11, 1))]
    billed = expected[expected.invoiced_usd.notna()].reset_index(drop=True)
    assert list(billed.usage_date) == [date(2026, 11, 1), date(2026, 12, 25)]
    assert list(billed.invoiced_usd) == [Decimal("0.25"), Decimal("5")]
    assert billed.ledger_usd[0] == nov_1.ledger_usd.iloc[0] > Decimal("0.26")
    assert billed.diff_usd[0] == Decimal("0.25") - billed.ledger_usd[0]
    assert list(billed.status) == ["under", "missing_ledger"]
    others = expected[expected.invoiced_usd.isna()]
    assert len(others) == len(ledger) - 1 and set(others.status) == {"missing_invoice"}
    # the page: the same rows, the two that do not match first
    assert len(shown) == len(expected)
    assert set(shown.status[:2]) == {"under", "missing_ledger"}
    assert set(shown.status[2:]) == {"missing_invoice"}


def test_budget_period_history(warehouse_dir: Path, page) -> None:
    """The first budget's every period (fct_budget_periods), newest first: with AS_OF inside
    the data, earlier daily periods past their grace are closed, their figure frozen."""
    data = warehouse_dir
    at = page(data, "budgets")
    tenant_id, budget_id = at.selectbox(key="history_budget").value
    shown = frame(at, "spend_of_record_usd", "adjustment_usd")
    expected = sql(
        data,
        """
        select period_start, status, spend_of_record_usd, spend_at_close_usd, adjustment_usd
        from marts.fct_budget_periods where tenant_id = ? and budget_id = ?
        order by period_start desc
        """,
        [tenant_id, budget_id],
    )
    assert len(shown) == len(expected) > 0
    assert list(shown.status) == list(expected.status)
    assert [Decimal(x) for x in shown.spend_of_record_usd] == list(expected.spend_of_record_usd)
    closed = expected[expected.status == "closed"]
    assert (closed.spend_of_record_usd == closed.spend_at_close_usd).all()
    assert (closed.adjustment_usd == 0).all(), "one build: nothing arrived after a close"


def test_cost_page_lists_incomplete_overrides(warehouse_dir: Path, tmp_path: Path, page) -> None:
    """An override that leaves a token price out for a model genai-prices does not know (as
    data_quality.dq_price_overrides_incomplete lists it) is named on the Cost page."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(warehouse_dir / "warehouse.duckdb", data / "warehouse.duckdb")
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute(
            "insert into data_quality.dq_price_overrides_incomplete "
            "values ('acme', 'in-house', date '2026-11-01', 'output_mtok')"
        )
    at = page(data, "cost", range="All time")
    shown = frame(at, "provider_id", "missing_price_key")
    assert shown.to_dict("records") == [
        {
            "provider_id": "acme",
            "model_id": "in-house",
            "valid_from": date(2026, 11, 1),
            "missing_price_key": "output_mtok",
        }
    ]
    assert any("leave a token price out" in w.value for w in at.warning)
    # the fixture's own warehouse has none: no warning there
    at = page(warehouse_dir, "cost", range="All time")
    assert not any("leave a token price out" in w.value for w in at.warning)


def test_budget_page_from_an_alert_shows_its_period_its_alerts_and_what_was_sent(
    warehouse_dir: Path, tmp_path: Path, page
) -> None:
    """The link of an alert on yesterday's period opens that period of that tenant's budget,
    lists that budget's alerts only, and counts as sent what the outbox published after the
    build (another tenant's alert on a budget of the same id is not counted)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(warehouse_dir / "warehouse.duckdb", data / "warehouse.duckdb")
    b = sql(
        data,
        "select * from marts.budget_status where period_kind = 'previous'"
        " order by tenant_id, budget_id limit 1",
    ).iloc[0]
    start = b.period_start.to_pydatetime()
    period = BudgetPeriod(
        budget_id=b.budget_id, tenant_id=b.tenant_id, scope=b.scope, scope_id=b.scope_id,
        period=b.period, period_kind="previous", period_start=start,
        period_end=b.period_end.to_pydatetime(), as_of=start, limit_usd=Decimal(1),
        spend_usd=Decimal(1), pct_used=100.0, thresholds_crossed=(50.0, 100.0),
        forecast_usd=None, elapsed_fraction=1.0, enforcement="alert", destination="slack:#nowhere",
    )  # fmt: skip
    box = Outbox(data / "outbox" / "outbox.sqlite3")
    alerts = [
        *threshold_alerts([period], []),
        *threshold_alerts([replace(period, tenant_id="zz")], []),
    ]
    box.enqueue(alerts, time.time())
    keys = [a.dedupe_key for a in alerts]
    box.claim(keys, "run", time.time(), 60)
    box.mark_sent(keys, "run", time.time())
    note = "no route for slack:#nowhere in AGENTOPS_ALERT_ROUTES: sent to SLACK_WEBHOOK_URL"
    box.note_route(keys, note)
    box.export_snapshot(data / "outbox" / "alerts" / "outbox.parquet")

    link = start.isoformat().replace("+00:00", "Z")
    at = page(data, "budgets", tenant=b.tenant_id, budget_id=b.budget_id, period_start=link)
    shown = frame(at, "budget_id", "period_start")
    assert list(shown.budget_id) == [b.budget_id]
    assert [pd.Timestamp(v) for v in shown.period_start] == [pd.Timestamp(start)]
    assert metric(at, "Alerts sent") == "2"  # this tenant's 50% and 100%, not zz's
    listed = frame(at, "dedupe_key", "delivery_status")
    assert sorted(listed.dedupe_key) == sorted(keys[:2])
    assert set(listed.delivery_status) == {"sent"}
    assert set(listed.delivery_error) == {"\u2014"}  # an em dash, never a literal None
    assert any("`slack:#nowhere`" in w.value and "SLACK_WEBHOOK_URL" in w.value for w in at.warning)

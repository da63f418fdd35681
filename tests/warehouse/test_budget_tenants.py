"""Budgets and alerts per tenant, through real builds: the budgets file -> reference data ->
dbt -> budget_status and fct_alerts.

acme and zeta both have a project called `acme-support`; each has a budget on it. One build
(1), an alert sent as the orchestration layer sends it (events into the lake, the outbox
snapshot), a build (2), then the budgets file changes (a new limit and destination, a new
budget) and a last build (3): the alert already sent keeps what it was sent with, the new
status uses the new limit.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.files.loader import load_paths
from orchestration.alerts.keys import budget_alert_key, emitted_alert_key
from orchestration.alerts.outbox import Outbox
from orchestration.alerts.readers import read_budget_periods
from orchestration.alerts.rules import alert_events, events_jsonl, threshold_alerts
from orchestration.warehouse.build import build
from tests.warehouse.fixtures import make_run

pytestmark = pytest.mark.slow

AS_OF = "2026-11-21T12:00:00+00:00"
DAY = datetime(2026, 11, 21, tzinfo=UTC)
HEADER = "budget_id,tenant_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination"
BUDGETS_1 = [
    'acme-support,acme,project,acme-support,daily,0.0001,"50,100",alert,slack:#acme',
    "zeta-support,zeta,project,acme-support,daily,1000,,block,slack:#zeta",
    # acme has a project acme-sales; zeta never had one.
    "zeta-ghost,zeta,project,acme-sales,daily,5,,alert,",
]
BUDGETS_3 = [
    'acme-support,acme,project,acme-support,daily,1000,"50,100",alert,slack:#acme-new',
    *BUDGETS_1[1:],
    "acme-new,acme,tenant,,daily,0.0001,,block,",
]
ODD = "odd:50%"  # a tenant id with the characters a dedupe key must escape


def _event(tenant: str, event_id: str, kind: str, at: datetime, **section: object) -> dict:
    return {
        "event_version": "0",
        "event_id": event_id,
        "event_type": kind,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "tenant": {"tenant_id": tenant, "workspace_id": "w", "project_id": "p"},
        "run": {"run_id": f"{event_id}-run", "agent_id": "producer"},
        "trace": {"trace_id": "c" * 32, "span_id": "d" * 16, "parent_span_id": None},
        **section,
    }


def producer_alerts() -> list[dict]:
    """Alert events producers sent themselves, reusing one budget_id and one alert_id across
    tenants (no dedupe_key attribute: fct_alerts keys them)."""
    at = DAY + timedelta(hours=2)
    out = []
    for i, tenant in enumerate(("acme", "zeta", ODD)):
        hit = {
            "budget_id": "shared-budget", "scope": "tenant", "scope_id": tenant,
            "period": "daily", "period_start": "2026-11-21T00:00:00Z", "limit_usd": 10,
            "threshold_pct": 80, "spend_usd": 8 + i, "enforcement": "alert",
        }  # fmt: skip
        alert = {
            "alert_id": "shared-alert", "alert_type": "error_rate", "threshold": 0.2,
            "current_value": 0.3, "destination": "slack:#ops",
            "sent_at": "2026-11-21T02:00:01Z",
        }  # fmt: skip
        out.append(_event(tenant, f"{tenant}-hit", "budget.threshold_hit", at, budget=hit))
        out.append(_event(tenant, f"{tenant}-alert", "alert.emitted", at, alert=alert))
    return out


def load(data_dir: Path, events: list[dict], name: str) -> None:
    path = data_dir / "incoming" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    summary = load_paths([path], data_dir, final=True)
    assert summary.quarantined == 0 and summary.accepted == len(events), summary


def rows(data_dir: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def built(data_dir: Path) -> None:
    result = build(data_dir, dbt_vars={"budget_as_of": AS_OF})
    assert result.success, result.summary() + "\n" + result.output_tail


ALERT_COLUMNS = (
    "dedupe_key, alert_id, alert_source, tenant_id, budget_id, threshold, current_value, "
    "limit_usd, spend_usd, destination, delivery_status, delivery_attempts, sent_at, "
    "first_event_id, event_count"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data_dir = tmp_path_factory.mktemp("budget-tenants") / "data"
    budgets = data_dir.parent / "budgets.csv"
    budgets.write_text("\n".join([HEADER, *BUDGETS_1]) + "\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("AGENTOPS_BUDGETS_FILE", str(budgets))
    try:
        rng = random.Random(5)
        events: list[dict] = []
        for i in range(8):
            at = DAY + timedelta(hours=1 + i)
            events += make_run(
                rng, i, at, "succeeded", tenant=("acme", "acme-prod", "acme-support")
            )
            events += make_run(rng, 100 + i, at, "succeeded", tenant=("zeta", "z", "acme-support"))
        events += make_run(rng, 200, DAY, "succeeded", tenant=("acme", "acme-prod", "acme-sales"))
        load(data_dir, events + producer_alerts(), "usage")
        built(data_dir)  # 1
        state: dict = {"data_dir": data_dir}
        state["status_1"] = rows(
            data_dir,
            "select budget_id, tenant_id, limit_usd, spend_usd, is_scope_seen, alert_dedupe_key "
            "from marts.budget_status where period_kind = 'current' order by budget_id",
        )
        state["spend"] = dict(
            ((t, p), s)
            for t, p, s in rows(
                data_dir,
                "select tenant_id, project_id, sum(cost_usd) from marts.fct_model_calls "
                "where call_date = ? group by all",
                [DAY.date()],
            )
        )
        # The orchestration layer sends acme-support's 50% alert: outbox, then its events.
        con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
        try:
            periods = read_budget_periods(con)
        finally:
            con.close()
        (alert,) = [
            a
            for a in threshold_alerts(periods, ())
            if a.facts["budget_id"] == "acme-support"
            and a.facts["period_kind"] == "current"
            and a.threshold == 50
        ]
        state["alert"] = alert
        outbox = Outbox(data_dir / "outbox" / "outbox.sqlite3")
        sent = (DAY + timedelta(hours=11)).timestamp()
        outbox.enqueue([alert], sent)
        outbox.claim([alert.dedupe_key], "run-1", sent, 60)
        outbox.mark_sent([alert.dedupe_key], "run-1", sent)
        outbox.export_snapshot(data_dir / "outbox" / "alerts" / "outbox.parquet")
        detected, at = DAY + timedelta(hours=10), DAY + timedelta(hours=11)
        lines = events_jsonl(alert_events(alert, detected, at)).splitlines()
        load(data_dir, [orjson.loads(line) for line in lines], "sent")
        built(data_dir)  # 2
        sql = f"select {ALERT_COLUMNS} from marts.fct_alerts order by dedupe_key"
        state["alerts_2"] = rows(data_dir, sql)
        budgets.write_text("\n".join([HEADER, *BUDGETS_3]) + "\n")
        built(data_dir)  # 3: the budgets file changed, nothing else
        state["alerts_3"] = rows(data_dir, sql)
        state["status_3"] = rows(
            data_dir,
            "select budget_id, tenant_id, limit_usd, spend_usd, thresholds_crossed, destination "
            "from marts.budget_status where period_kind = 'current' order by budget_id",
        )
    finally:
        mp.undo()
    return state


def test_each_budget_counts_its_own_tenants_spend_only(world: dict) -> None:
    spend = world["spend"]
    acme, zeta = spend[("acme", "acme-support")], spend[("zeta", "acme-support")]
    assert acme > 0 and zeta > 0 and acme != zeta
    key = budget_alert_key("acme", "acme-support", DAY, 100)
    assert world["status_1"] == [
        ("acme-support", "acme", Decimal("0.0001"), acme, True, key),
        ("zeta-ghost", "zeta", Decimal(5), Decimal(0), False, None),
        ("zeta-support", "zeta", Decimal(1000), zeta, True, None),
    ]


def test_a_sent_alert_keeps_what_it_was_sent_with_after_the_budget_changes(world: dict) -> None:
    alert = world["alert"]
    assert alert.dedupe_key == budget_alert_key("acme", "acme-support", DAY, 50)
    spend = world["spend"][("acme", "acme-support")]
    sent = (
        alert.dedupe_key, alert.dedupe_key, "budget.threshold_hit", "acme", "acme-support", 50.0,
        pytest.approx(float(100 * spend / Decimal("0.0001")), rel=1e-12), Decimal("0.0001"),
        spend, "slack:#acme", "sent",
        1, DAY + timedelta(hours=11), alert_events(alert, DAY, DAY)[0]["event_id"], 2,
    )  # fmt: skip
    assert [r for r in world["alerts_2"] if r[0] == alert.dedupe_key] == [sent]
    assert world["alerts_3"] == world["alerts_2"]  # a new limit rewrites no past alert
    # ... while the status uses the new limit and destination, and the new budget shows.
    acme_day = sum(v for (t, _), v in world["spend"].items() if t == "acme")
    assert world["status_3"] == [
        ("acme-new", "acme", Decimal("0.0001"), acme_day, [50, 80, 100], None),
        ("acme-support", "acme", Decimal(1000), spend, [], "slack:#acme-new"),
        ("zeta-ghost", "zeta", Decimal(5), Decimal(0), [], None),
        ("zeta-support", "zeta", Decimal(1000), world["spend"][("zeta", "acme-support")], [],
         "slack:#zeta"),
    ]  # fmt: skip


def test_producers_alerts_are_keyed_per_tenant_as_the_python_keys_say(world: dict) -> None:
    """Three tenants reuse one budget_id and one alert_id: six alerts, keyed by the dbt macros
    exactly as orchestration/alerts/rules.py keys them (an odd tenant id included)."""
    produced = [r for r in world["alerts_2"] if r[4] == "shared-budget" or r[1] == "shared-alert"]
    assert [(r[0], r[3], r[8]) for r in produced] == sorted(
        [(emitted_alert_key(t, "shared-alert"), t, None) for t in ("acme", "zeta", ODD)]
        + [
            (budget_alert_key(t, "shared-budget", DAY, 80), t, Decimal(8 + i))
            for i, t in enumerate(("acme", "zeta", ODD))
        ]
    )
    assert emitted_alert_key(ODD, "shared-alert") == "alert:odd%3A50%25:shared-alert"

"""The alert logic as pure functions: which thresholds are new, keys, grouping, messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from ingestion.validation.contract import ValidEvent, check_line
from orchestration.alerts.delivery import (
    FAILED,
    RETRY,
    SENT,
    backoff_seconds,
    classify,
    route_for,
)
from orchestration.alerts.keys import budget_alert_key, emitted_alert_key
from orchestration.alerts.readers import scope_tenant
from orchestration.alerts.rules import (
    BUDGET_FORECAST,
    BUDGET_THRESHOLD,
    WORKFLOW_FAILURE_RATE,
    Alert,
    BudgetPeriod,
    WorkflowHealth,
    alert_events,
    alert_text,
    events_jsonl,
    forecast_alerts,
    newly_crossed,
    plan_messages,
    reliability_alerts,
    slack_payload,
    threshold_alerts,
)

START = datetime(2026, 11, 25, tzinfo=UTC)
URL = "http://localhost:8501/budgets"


def period(**kw: object) -> BudgetPeriod:
    base: dict[str, object] = dict(
        budget_id="acme-daily", scope="tenant", scope_id="acme", period="daily",
        period_kind="current", period_start=START, period_end=START + timedelta(days=1),
        as_of=START + timedelta(hours=12), limit_usd=Decimal("25"), spend_usd=Decimal("21"),
        pct_used=84.0, thresholds_crossed=(50.0, 80.0), forecast_usd=Decimal("42"),
        elapsed_fraction=0.5, enforcement="alert", destination="slack:#acme-finance",
        tenant_id="acme",
    )  # fmt: skip
    base.update(kw)
    return BudgetPeriod(**base)  # type: ignore[arg-type]


def test_budget_alert_key_matches_the_dbt_macro_format() -> None:
    # dbt: concat_ws(':', 'budget', tenant, id, strftime(period_start, ...), threshold)
    key = budget_alert_key("acme", "acme-daily", START, 80)
    assert key == "budget:acme:acme-daily:2026-11-25T00:00:00Z:80"
    assert budget_alert_key("acme", "b", START, 80.0).endswith(":80")
    assert budget_alert_key("acme", "b", START, 12.5).endswith(":12.5")
    with pytest.raises(ValueError, match="time zone"):
        budget_alert_key("acme", "b", datetime(2026, 11, 25), 50)


def test_alert_keys_name_the_tenant() -> None:
    """Budget and alert ids are the producer's: two tenants reusing one get two alerts."""
    assert budget_alert_key("acme", "daily", START, 80) != budget_alert_key(
        "zeta", "daily", START, 80
    )
    assert emitted_alert_key("acme", "a-1") == "alert:acme:a-1"
    assert emitted_alert_key("zeta", "a-1") == "alert:zeta:a-1"
    # The tenant part ends at the first ':', whatever the ids hold.
    assert emitted_alert_key("a:b", "c") == "alert:a%3Ab:c" != emitted_alert_key("a", "b:c")
    assert budget_alert_key("50%:x", "b", START, 1) == "budget:50%25%3Ax:b:2026-11-25T00:00:00Z:1"
    # The same budget id in two tenants: each tenant's period alerts on its own.
    acme, zeta = period(), period(tenant_id="zeta")
    known = [budget_alert_key("acme", "acme-daily", START, t) for t in (50, 80)]
    assert newly_crossed(acme, known) == []
    assert newly_crossed(zeta, known) == [50.0, 80.0]


def test_newly_crossed_is_the_crossed_thresholds_without_an_alert() -> None:
    row = period()
    assert newly_crossed(row, []) == [50.0, 80.0]
    assert newly_crossed(row, [budget_alert_key("acme", "acme-daily", START, 50)]) == [80.0]
    both = [budget_alert_key("acme", "acme-daily", START, t) for t in (50, 80)]
    assert newly_crossed(row, both) == []
    # Same budget, next period: the keys differ, so its thresholds alert again.
    assert newly_crossed(period(period_start=START + timedelta(days=1)), both) == [50.0, 80.0]


def test_threshold_alerts_one_per_new_threshold() -> None:
    alerts = threshold_alerts([period()], [budget_alert_key("acme", "acme-daily", START, 50)])
    assert [(a.dedupe_key, a.alert_type, a.threshold) for a in alerts] == [
        ("budget:acme:acme-daily:2026-11-25T00:00:00Z:80", BUDGET_THRESHOLD, 80.0)
    ]
    assert alerts[0].destination == "slack:#acme-finance"
    assert alerts[0].current_value == 84.0


def test_a_closed_period_raises_no_threshold_alert() -> None:
    """Late spend that crosses a threshold of a closed period is an adjustment, not an alert."""
    previous = period(period_kind="previous", elapsed_fraction=1.0)
    assert len(threshold_alerts([previous], [])) == 2
    assert threshold_alerts([replace(previous, is_closed=True)], []) == []


def test_forecast_alert_only_before_any_threshold_and_once_per_period() -> None:
    early = period(
        spend_usd=Decimal("10"), pct_used=40.0, thresholds_crossed=(),
        forecast_usd=Decimal("30"), elapsed_fraction=0.4,
    )  # fmt: skip
    (alert,) = forecast_alerts([early], [], min_elapsed=0.1)
    assert alert.dedupe_key == "alert:acme:forecast:acme-daily:2026-11-25T00:00:00Z"
    assert alert.alert_type == BUDGET_FORECAST
    assert alert.current_value == pytest.approx(120.0)
    assert forecast_alerts([early], [alert.dedupe_key], min_elapsed=0.1) == []
    assert forecast_alerts([period()], [], min_elapsed=0.1) == []  # a threshold is crossed
    assert forecast_alerts([early], [], min_elapsed=0.5) == []  # too early in the period
    under = period(thresholds_crossed=(), forecast_usd=Decimal("25"), spend_usd=Decimal("5"))
    assert forecast_alerts([under], [], min_elapsed=0.1) == []  # forecast == limit: not over
    assert forecast_alerts([period(period_kind="previous", thresholds_crossed=())], [], 0.1) == []


def test_reliability_alert_needs_the_rate_and_the_minimum_runs() -> None:
    as_of = START + timedelta(hours=12, minutes=30)

    def health(ended: int, failed: int) -> WorkflowHealth:
        return WorkflowHealth("acme", "acme-prod", "*", "support-ticket", ended, failed, as_of)

    def alerts(h: WorkflowHealth, known: tuple[str, ...] = ()) -> list[Alert]:
        return reliability_alerts(
            [h], known, failure_rate=0.25, min_runs=10, destination="slack:#ops"
        )

    (alert,) = alerts(health(10, 3))
    assert alert.dedupe_key == "alert:acme:reliability:acme:support-ticket:2026-11-25T12:00:00Z"
    assert alert.alert_type == WORKFLOW_FAILURE_RATE
    assert (alert.threshold, alert.current_value) == (25.0, 30.0)
    assert alerts(health(9, 9)) == []  # too few runs
    assert alerts(health(20, 5)) == []  # 25% is not above 25%
    assert alerts(health(10, 3), (alert.dedupe_key,)) == []  # once per workflow and hour


def _alerts(n: int) -> list[Alert]:
    return threshold_alerts(
        [period(budget_id=f"b{i}", thresholds_crossed=(50.0,)) for i in range(n)], []
    )


@pytest.mark.parametrize(
    ("n", "digest_min", "shape"),
    [(0, 3, []), (1, 3, [1]), (2, 3, [1, 1]), (3, 3, [3]), (7, 3, [7]), (2, 2, [2])],
)
def test_digest_grouping(n: int, digest_min: int, shape: list[int]) -> None:
    messages = plan_messages(_alerts(n), digest_min)
    assert [len(m.alerts) for m in messages] == shape
    assert sorted(k for m in messages for k in m.keys) == sorted(a.dedupe_key for a in _alerts(n))


def test_message_says_budget_scope_period_spend_limit_percent_forecast_and_links() -> None:
    (alert,) = threshold_alerts([period(thresholds_crossed=(80.0,))], [])
    text = alert_text(alert, URL)
    for part in (
        "Budget acme-daily crossed 80% of its limit",
        "tenant `acme`",
        "daily period from 2026-11-25",
        "$21.00 of $25.00 (84.0% used)",
        "Forecast at period end: $42.00",
        f"<{URL}?tenant=acme&budget_id=acme-daily|",
    ):
        assert part in text
    body = slack_payload(plan_messages([alert], 3)[0], URL)
    assert body["text"] == "Budget acme-daily crossed 80% of its limit"
    digest = slack_payload(plan_messages(_alerts(3), 3)[0], URL)
    assert digest["blocks"][0]["text"]["text"] == "3 AgentOps alerts"
    assert len(digest["blocks"]) == 4


def test_alert_events_are_valid_contract_events_with_stable_ids() -> None:
    (alert,) = threshold_alerts([period(thresholds_crossed=(80.0,))], [])
    detected, sent = START + timedelta(hours=12), START + timedelta(hours=12, seconds=3)
    events = alert_events(alert, detected, sent)
    assert [e["event_type"] for e in events] == [
        "budget.threshold_hit",
        "alert.emitted",
        "run.completed",
    ]
    assert len({e["run"]["run_id"] for e in events}) == 1
    assert events[2]["run"]["status"] == "succeeded"
    assert events[2]["run"]["ended_at"] == "2026-11-25T12:00:03Z"
    now = START + timedelta(days=1)
    for line in events_jsonl(events).splitlines():
        result = check_line(line, now)
        assert isinstance(result, ValidEvent), result
    hit = orjson.loads(events_jsonl(events[:1]))
    assert hit["budget"]["limit_usd"] == 25 and hit["budget"]["threshold_pct"] == 80.0
    assert hit["tenant"] == {"tenant_id": "acme", "workspace_id": "*", "project_id": "*"}
    emitted = events[1]["alert"]
    assert emitted["alert_id"] == alert.dedupe_key and emitted["sent_at"] == "2026-11-25T12:00:03Z"
    again = alert_events(alert, detected, sent + timedelta(minutes=5))
    assert [e["event_id"] for e in again] == [e["event_id"] for e in events]


def test_alert_round_trips_through_json() -> None:
    (alert,) = threshold_alerts([period(thresholds_crossed=(50.0,))], [])
    assert Alert.from_json(alert.to_json()) == alert


def test_routes() -> None:
    slack = route_for("slack:#acme-finance", "https://hooks.slack.com/x", None)
    assert (slack.kind, slack.problem) == ("slack", None)
    assert route_for("slack:#a", None, None).problem == (
        "SLACK_WEBHOOK_URL is not set: recorded, not sent"
    )
    assert not route_for("slack:#a", None, None).permanent
    assert route_for("webhook", None, "http://h/x").kind == "json"
    email = route_for("email:finance@acme.example", "https://hooks.slack.com/x", "http://h")
    assert email.permanent and "'email' destinations are not delivered" in (email.problem or "")
    assert route_for("", "https://hooks.slack.com/x", None).permanent


def test_classify_webhook_answers() -> None:
    assert classify(200, "ok", None, "slack").outcome == SENT
    assert classify(429, "rate_limited", 30.0, "slack") == classify(
        429, "rate_limited", 30.0, "slack"
    )
    assert classify(429, "rate_limited", 30.0, "slack").retry_after == 30.0
    assert classify(503, "", None, "slack").outcome == RETRY
    refused = classify(404, "no_service", None, "slack")
    assert refused.outcome == FAILED
    assert "no_service" in (refused.error or "") and "SLACK_WEBHOOK_URL" in (refused.error or "")
    assert classify(403, "action_prohibited", None, "json").outcome == FAILED


def test_backoff() -> None:
    assert [backoff_seconds(30, n) for n in (1, 2, 3, 10)] == [30, 60, 120, 900]


def test_scope_tenant() -> None:
    dims = [
        ("acme", "acme-prod", "acme-support", "triage-agent"),
        ("acme", "acme-prod", "acme-sales", "triage-agent"),
        ("globex", "globex-main", "globex-research", "research-agent"),
    ]
    assert scope_tenant("acme", "tenant", "acme", dims) == ("acme", "*", "*")
    assert scope_tenant("acme", "workspace", "acme-prod", dims) == ("acme", "acme-prod", "*")
    assert scope_tenant("acme", "project", "acme-sales", dims) == (
        "acme", "acme-prod", "acme-sales"
    )  # fmt: skip
    assert scope_tenant("acme", "agent", "triage-agent", dims) == ("acme", "acme-prod", "*")
    assert scope_tenant("acme", "agent", "nobody", dims) == ("acme", "*", "*")
    # Another tenant's agent of the same name, in another workspace, is not acme's.
    dims.append(("zeta", "zeta-prod", "acme-sales", "triage-agent"))
    assert scope_tenant("acme", "agent", "triage-agent", dims) == ("acme", "acme-prod", "*")
    assert scope_tenant("acme", "project", "acme-sales", dims) == (
        "acme", "acme-prod", "acme-sales"
    )  # fmt: skip
    assert scope_tenant("zeta", "agent", "triage-agent", dims) == (
        "zeta", "zeta-prod", "acme-sales"
    )  # fmt: skip

"""The alert logic as pure functions: which thresholds are new, keys, grouping, messages."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from ingestion.settings import (
    DBT_PROJECT_DIR,
    DEFAULT_BUDGET_CLOSE_GRACE_HOURS,
    budget_close_grace_hours,
)
from ingestion.validation.contract import ValidEvent, check_line
from orchestration.alerts.delivery import (
    FAILED,
    RETRY,
    SENT,
    backoff_seconds,
    classify,
    parse_routes,
    route_for,
)
from orchestration.alerts.keys import budget_alert_key, emitted_alert_key
from orchestration.alerts.readers import scope_tenant
from orchestration.alerts.rules import (
    BUDGET_FORECAST,
    BUDGET_PERIOD_CLOSED,
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


def test_forecast_alert_while_under_the_limit_and_once_per_period() -> None:
    early = period(
        spend_usd=Decimal("10"), pct_used=40.0, thresholds_crossed=(),
        forecast_usd=Decimal("30"), elapsed_fraction=0.4,
    )  # fmt: skip
    (alert,) = forecast_alerts([early], [], min_elapsed=0.1)
    assert alert.dedupe_key == "alert:acme:forecast:acme-daily:2026-11-25T00:00:00Z"
    assert alert.alert_type == BUDGET_FORECAST
    assert alert.current_value == pytest.approx(120.0)
    assert forecast_alerts([early], [alert.dedupe_key], min_elapsed=0.1) == []
    # 80% crossed, forecast $42 of $25: the forecast still says something new.
    (crossed,) = forecast_alerts([period()], [], min_elapsed=0.1)
    assert crossed.current_value == pytest.approx(168.0)
    over = period(spend_usd=Decimal("25"), pct_used=100.0, thresholds_crossed=(50.0, 80.0, 100.0))
    assert forecast_alerts([over], [], min_elapsed=0.1) == []  # over already: the 100% alert
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
        f"<{URL}?tenant=acme&budget_id=acme-daily&period_start=2026-11-25T00%3A00%3A00Z|",
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
        "no route for slack:#a in AGENTOPS_ALERT_ROUTES and SLACK_WEBHOOK_URL is not set: "
        "recorded, not sent"
    )
    assert not route_for("slack:#a", None, None).permanent
    assert route_for("webhook", None, "http://h/x").kind == "json"
    email = route_for("email:finance@acme.example", "https://hooks.slack.com/x", "http://h")
    assert email.permanent and "email destinations are not deliverable yet" in (email.problem or "")
    # Empty: the default route, no note.
    default = route_for("", "https://hooks.slack.com/x", None)
    assert (default.kind, default.url, default.note) == ("slack", "https://hooks.slack.com/x", None)


def test_routes_map_destinations_and_report_the_missing_ones(tmp_path: Path) -> None:
    routes = parse_routes(
        '{"slack:#acme-finance": "https://hooks.slack.com/A", "webhook:ops": "http://ops/h"}'
    )
    slack = route_for("slack:#acme-finance", "https://hooks.slack.com/DEFAULT", None, routes)
    assert (slack.kind, slack.url, slack.note) == ("slack", "https://hooks.slack.com/A", None)
    ops = route_for("webhook:ops", "https://hooks.slack.com/DEFAULT", None, routes)
    assert (ops.kind, ops.url, ops.note) == ("json", "http://ops/h", None)
    lost = route_for("slack:#zeta-finance", "https://hooks.slack.com/DEFAULT", None, routes)
    assert (lost.kind, lost.url) == ("slack", "https://hooks.slack.com/DEFAULT")
    assert lost.note == (
        "no route for slack:#zeta-finance in AGENTOPS_ALERT_ROUTES: sent to SLACK_WEBHOOK_URL"
    )
    assert route_for("slack:#zeta-finance", None, None, routes).problem == (
        "no route for slack:#zeta-finance in AGENTOPS_ALERT_ROUTES and SLACK_WEBHOOK_URL is "
        "not set: recorded, not sent"
    )
    file = tmp_path / "routes.json"
    file.write_text('{"webhook:ops": "https://ops.example/h"}')
    assert parse_routes(str(file)) == {"webhook:ops": "https://ops.example/h"}
    assert parse_routes("") == {}
    with pytest.raises(ValueError, match="neither a JSON object nor a readable file"):
        parse_routes(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_routes("{nope")
    with pytest.raises(ValueError, match=r"key 'email:x' is not slack:#channel or webhook:NAME"):
        parse_routes('{"email:x": "https://h"}')
    with pytest.raises(ValueError, match=r"'slack:#a': 'ftp://h' is not an http\(s\) URL"):
        parse_routes('{"slack:#a": "ftp://h"}')


def test_thresholds_crossed_together_are_one_message_about_the_highest() -> None:
    row = period(spend_usd=Decimal("30"), pct_used=120.0, thresholds_crossed=(50.0, 80.0, 100.0))
    other = period(budget_id="acme-weekly", thresholds_crossed=(50.0,))
    alerts = threshold_alerts([other, row], [])
    assert [a.threshold for a in alerts] == [50.0, 100.0, 80.0, 50.0]  # per period, highest first
    messages = plan_messages(alerts, 3)
    assert [[a.threshold for a in m.alerts] for m in messages] == [[100.0, 80.0, 50.0], [50.0]]
    body = slack_payload(messages[0], URL)
    assert body["text"] == "Budget acme-daily crossed 100% of its limit (also 80%, 50%)"
    assert body["blocks"][0]["text"]["text"].startswith(
        "*Budget acme-daily crossed 100% of its limit (also 80%, 50%)*\nScope: tenant"
    )
    # As a digest too, the 100% comes first.
    (digest,) = plan_messages(alerts, 2)
    texts = [b["text"]["text"] for b in slack_payload(digest, URL)["blocks"][1:]]
    assert texts[0].startswith("*Budget acme-daily crossed 100% of its limit (also 80%, 50%)*")
    assert texts[1].startswith("*Budget acme-weekly crossed 50% of its limit*")


def test_a_crossing_seen_after_its_period_closed_is_recorded_and_summarised_once() -> None:
    # Yesterday's period, ended at midnight; the close grace is an hour.
    yesterday = period(
        period_kind="previous", period_start=START - timedelta(days=1), period_end=START,
        closes_at=START + timedelta(hours=1), pct_used=84.0, elapsed_fraction=1.0,
        as_of=START + timedelta(minutes=59),
    )  # fmt: skip
    # Built within the grace: live alerts.
    live = threshold_alerts([yesterday], [])
    assert [(a.alert_type, a.threshold, a.suppressed) for a in live] == [
        (BUDGET_THRESHOLD, 80.0, None),
        (BUDGET_THRESHOLD, 50.0, None),
    ]
    # Built once closed: both recorded as suppressed, one summary to send.
    yesterday = replace(yesterday, as_of=START + timedelta(hours=1))
    found = threshold_alerts([yesterday, period(tenant_id="zeta", thresholds_crossed=())], [])
    summary_key = "alert:acme:closed:acme-daily:2026-11-24T00:00:00Z"
    assert [(a.dedupe_key, a.alert_type) for a in found] == [
        ("budget:acme:acme-daily:2026-11-24T00:00:00Z:80", BUDGET_THRESHOLD),
        ("budget:acme:acme-daily:2026-11-24T00:00:00Z:50", BUDGET_THRESHOLD),
        (summary_key, BUDGET_PERIOD_CLOSED),
    ]
    assert all(a.suppressed and summary_key in a.suppressed for a in found[:2])
    assert found[2].suppressed is None
    (message,) = plan_messages(found[2:], 3)
    text = slack_payload(message, URL)["blocks"][0]["text"]["text"]
    assert text.startswith(
        "*Budget acme-daily: its daily period from 2026-11-24 (UTC) closed at 84.0% of its limit*"
    )
    assert "not sent as live alerts): 50%, 80%" in text
    assert "period_start=2026-11-24T00%3A00%3A00Z" in text
    # At most one summary: a later crossing of that period is recorded, not summarised again.
    known = [summary_key, found[1].dedupe_key]
    (later,) = threshold_alerts([replace(yesterday, as_of=START + timedelta(hours=4))], known)
    assert later.threshold == 80.0 and later.suppressed
    # Another tenant with the same budget id has its own summary.
    zeta = threshold_alerts([replace(yesterday, tenant_id="zeta")], known)
    assert zeta[-1].dedupe_key == "alert:zeta:closed:acme-daily:2026-11-24T00:00:00Z"


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


def test_the_close_grace_has_one_default_for_the_alerts_and_dbt() -> None:
    macro = (DBT_PROJECT_DIR / "macros" / "budgets.sql").read_text()
    found = re.search(r"env_var\('AGENTOPS_BUDGET_CLOSE_GRACE', ''\) or '([^']+)'", macro)
    assert found and float(found.group(1)) == DEFAULT_BUDGET_CLOSE_GRACE_HOURS == 1
    assert budget_close_grace_hours({}) == 1.0
    assert budget_close_grace_hours({"AGENTOPS_BUDGET_CLOSE_GRACE": "0.25"}) == 0.25
    for bad in ("-1", "an hour", "nan"):
        with pytest.raises(ValueError, match=f"AGENTOPS_BUDGET_CLOSE_GRACE='{bad}' is not a"):
            budget_close_grace_hours({"AGENTOPS_BUDGET_CLOSE_GRACE": bad})

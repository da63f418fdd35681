"""The budget sensor and alert delivery, end to end against a fake Slack.

Each test publishes a small warehouse (`marts.budget_status`), ticks `budget_threshold_sensor`
on an ephemeral instance, runs the `alerts_job` it requests in process (`budget_alerts`
records the alerts in the outbox, `alert_outbox` delivers them), and counts what the fake
Slack received. Message shape, stated once: one message per alert; a delivery pass with
three or more alerts for one webhook sends a single digest instead (AGENTOPS_ALERT_DIGEST_MIN).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import orjson
import pytest

from ingestion.validation.contract import ValidEvent, check_line
from orchestration.alerts.keys import budget_alert_key
from orchestration.alerts.outbox import Outbox
from orchestration.alerts.rules import BudgetPeriod, threshold_alerts
from orchestration.assets import alert_outbox, budget_alerts
from orchestration.resources import build_resources
from orchestration.sensors import budget_threshold_sensor
from orchestration.sensors.alerts import NOTHING_TO_DO
from tests.orchestration import budget_warehouse as bw
from tests.orchestration.slack_server import (
    NO_SERVICE,
    SERVER_ERROR,
    FakeSlack,
    rate_limited,
)

ALERTS_JOB = [budget_alerts, alert_outbox]
KEY_50 = budget_alert_key("acme", "acme-daily", bw.DAY_START, 50)
KEY_80 = budget_alert_key("acme", "acme-daily", bw.DAY_START, 80)
KEY_100 = budget_alert_key("acme", "acme-daily", bw.DAY_START, 100)


def run_key(new: list[str], retries: list[tuple[str, int]]) -> str:
    """The run key the sensor must give, computed independently of its code."""
    state = json.dumps([sorted(new), sorted([list(d) for d in retries])])
    return "alerts-" + hashlib.blake2b(state.encode(), digest_size=10).hexdigest()


class Ticks:
    """Ticks the sensor with the cursor carried over, and runs what it requests."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance = instance
        self.cursor: str | None = None
        self.resources = build_resources()  # as the test set the environment

    def tick(self) -> dg.SensorResult:
        ctx = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=self.resources
        )
        result = budget_threshold_sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        return result

    def run(
        self, request: dg.RunRequest, selection: list[dg.AssetsDefinition] | None = None
    ) -> dg.ExecuteInProcessResult:
        """What the request asks for (all of alerts_job unless it selects), or `selection`."""
        return dg.materialize(
            ALERTS_JOB,
            selection=selection or request.asset_selection,
            instance=self.instance,
            resources=self.resources,
            tags=dict(request.tags),
            raise_on_error=False,
        )

    def tick_and_run(self) -> dg.ExecuteInProcessResult:
        result = self.tick()
        assert result.run_requests, result.skip_reason
        (request,) = result.run_requests
        return self.run(request)


def skipped(result: dg.SensorResult, reason: str = NOTHING_TO_DO) -> bool:
    return not result.run_requests and result.skip_reason == dg.SkipReason(reason)


def outbox(data_dir: Path) -> Outbox:
    return Outbox(data_dir / "outbox" / "outbox.sqlite3")


def messages_about(slack: FakeSlack, key_part: str) -> int:
    return sum(key_part in t for t in slack.delivered_texts())


@pytest.mark.usefixtures("fast_alerts")
def test_crossing_50_then_80_sends_exactly_two_messages_then_none(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])  # 52%
    first = ticks.tick()
    assert first.run_requests == [
        dg.RunRequest(
            run_key=run_key([KEY_50], []),
            tags={"agentops/new_alerts": "1", "agentops/retry_alerts": "0"},
        )
    ]
    assert ticks.run(first.run_requests[0]).success

    bw.publish(data_dir, [bw.Budget(spend_usd="20.5")])  # 82%
    second = ticks.tick()
    assert [r.run_key for r in second.run_requests] == [run_key([KEY_80], [])]
    assert ticks.run(second.run_requests[0]).success

    assert skipped(ticks.tick())  # same warehouse
    bw.publish(data_dir, [bw.Budget(spend_usd="20.6")])  # a new publish, nothing newly crossed
    assert skipped(ticks.tick())

    assert [r.status for r in slack.received] == [200, 200]
    texts = slack.delivered_texts()
    assert "crossed 50% of its limit" in texts[0] and "crossed 80% of its limit" in texts[1]
    assert {r.dedupe_key: r.status for r in outbox(data_dir).rows()} == {
        KEY_50: "sent",
        KEY_80: "sent",
    }


@pytest.mark.usefixtures("fast_alerts")
def test_the_sensor_writes_nothing_while_it_is_evaluated(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])  # 52%
    assert [r.run_key for r in ticks.tick().run_requests] == [run_key([KEY_50], [])]
    assert not (data_dir / "outbox").exists()  # the run records the alert, not the tick
    assert ticks.run(dg.RunRequest()).success
    bw.publish(data_dir, [bw.Budget(spend_usd="20.5")])  # 82%
    before = (data_dir / "outbox" / "outbox.sqlite3").read_bytes()
    assert [r.run_key for r in ticks.tick().run_requests] == [run_key([KEY_80], [])]
    assert (data_dir / "outbox" / "outbox.sqlite3").read_bytes() == before
    assert [r.dedupe_key for r in outbox(data_dir).rows()] == [KEY_50]
    (text,) = slack.delivered_texts()  # one message so far: the 50% one
    assert "crossed 50% of its limit" in text


def test_thresholds_crossed_in_one_tick_are_one_message_about_the_highest(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    bw.publish(data_dir, [bw.Budget(spend_usd="30")])  # 120%: 50, 80 and 100 at once
    result = ticks.tick()
    assert [r.run_key for r in result.run_requests] == [run_key([KEY_100, KEY_50, KEY_80], [])]
    assert ticks.run(result.run_requests[0]).success
    (message,) = slack.delivered
    assert message["text"] == "Budget acme-daily crossed 100% of its limit (also 80%, 50%)"
    assert {r.dedupe_key: r.status for r in outbox(data_dir).rows()} == {
        KEY_50: "sent",
        KEY_80: "sent",
        KEY_100: "sent",
    }
    assert skipped(ticks.tick())


def test_two_messages_in_one_pass_go_a_second_apart_most_severe_first(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    weekly = bw.Budget(
        budget_id="acme-weekly", period="weekly", spend_usd="60", limit_usd="100",
        period_start=bw.DAY_START - bw.timedelta(days=6),
    )  # fmt: skip
    bw.publish(data_dir, [bw.Budget(spend_usd="21"), weekly])  # 84% (50, 80) and 60% (50)
    assert ticks.tick_and_run().success
    assert [m["text"] for m in slack.delivered] == [
        "Budget acme-daily crossed 80% of its limit (also 50%)",
        "Budget acme-weekly crossed 50% of its limit",
    ]
    gap = slack.received[1].at - slack.received[0].at
    assert gap >= 0.95, f"storm control: messages {gap:.2f}s apart, want >= 1s"
    assert skipped(ticks.tick())


@pytest.mark.usefixtures("fast_alerts")
def test_many_alerts_in_one_pass_are_one_digest(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    budgets = [
        bw.Budget(budget_id="b-low", spend_usd="13"),  # 52%
        bw.Budget(budget_id="b-over", spend_usd="30"),  # 120%: 50, 80 and 100
        bw.Budget(budget_id="b-high", spend_usd="21"),  # 84%: 50 and 80
    ]
    bw.publish(data_dir, budgets)
    assert ticks.tick_and_run().success
    (digest,) = slack.delivered
    assert digest["blocks"][0]["text"]["text"] == "3 AgentOps alerts"
    sections = [b["text"]["text"].split("\n")[0] for b in digest["blocks"][1:]]
    assert sections == [
        "*Budget b-over crossed 100% of its limit (also 80%, 50%)*",
        "*Budget b-high crossed 80% of its limit (also 50%)*",
        "*Budget b-low crossed 50% of its limit*",
    ]
    assert [r.status for r in outbox(data_dir).rows()] == ["sent"] * 6
    assert skipped(ticks.tick())


@pytest.mark.usefixtures("fast_alerts")
def test_server_errors_then_recovery_deliver_exactly_once(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    slack.reply_with(SERVER_ERROR, SERVER_ERROR, SERVER_ERROR)  # outlasts the retry handler
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    assert ticks.tick_and_run().success
    row = outbox(data_dir).get(KEY_50)
    assert row and (row.status, row.attempts) == ("pending", 1)
    assert "HTTP 500" in (row.error_message or "")
    assert [r.status for r in slack.received] == [500, 500, 500]

    retry = ticks.tick()  # no new publish: the pending alert alone asks for a run
    assert [r.run_key for r in retry.run_requests] == [run_key([], [(KEY_50, 1)])]
    assert ticks.run(retry.run_requests[0]).success
    assert len(slack.delivered) == 1
    assert outbox(data_dir).get(KEY_50).status == "sent"  # type: ignore[union-attr]
    assert skipped(ticks.tick())
    assert len(slack.delivered) == 1


@pytest.mark.usefixtures("fast_alerts")
def test_429_is_waited_out(data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance) -> None:
    ticks = Ticks(instance)
    slack.reply_with(rate_limited(retry_after=1))
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    assert ticks.tick_and_run().success
    assert [r.status for r in slack.received] == [429, 200]
    assert slack.received[1].at - slack.received[0].at >= 1.0
    assert outbox(data_dir).get(KEY_50).status == "sent"  # type: ignore[union-attr]


@pytest.mark.usefixtures("fast_alerts")
def test_long_retry_after_is_retried_on_a_later_tick(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOPS_ALERT_MAX_RETRY_AFTER_SECONDS", "0.5")
    ticks = Ticks(instance)
    slack.reply_with(rate_limited(retry_after=120))
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    assert ticks.tick_and_run().success
    row = outbox(data_dir).get(KEY_50)
    assert row and row.status == "pending" and row.next_attempt_at
    assert row.next_attempt_at - time.time() > 100  # not before Retry-After has passed
    assert skipped(ticks.tick())  # not due yet
    assert [r.status for r in slack.received] == [429]


@pytest.mark.usefixtures("fast_alerts")
def test_404_marks_failed_and_is_not_retried(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    slack.reply_with(NO_SERVICE)
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    result = ticks.tick_and_run()
    assert not result.success  # a configuration error shows as a failed run
    failure = result.failure_data_for_node("alert_outbox")
    assert failure and "no_service" in str(failure.error)
    row = outbox(data_dir).get(KEY_50)
    assert row and row.status == "failed" and "HTTP 404 no_service" in (row.error_message or "")
    assert skipped(ticks.tick())
    assert ticks.run(dg.RunRequest()).success
    assert [r.status for r in slack.received] == [404]
    snapshot = (
        duckdb.connect()
        .sql(f"select status, error_message from '{data_dir}/outbox/alerts/outbox.parquet'")
        .fetchall()
    )
    assert snapshot == [("failed", row.error_message)]


@pytest.mark.usefixtures("fast_alerts")
def test_crash_between_send_and_mark_resends_at_most_once_and_never_loses(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOPS_ALERT_LEASE_SECONDS", "0.5")
    ticks = Ticks(instance)
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    real_mark_sent = Outbox.mark_sent

    def crash(*args: object, **kwargs: object) -> int:
        raise SystemExit("simulated crash after the send, before the mark")

    monkeypatch.setattr(Outbox, "mark_sent", crash)
    crashed = ticks.tick_and_run()
    assert not crashed.success
    assert "simulated crash" in str(crashed.failure_data_for_node("alert_outbox").error)
    monkeypatch.setattr(Outbox, "mark_sent", real_mark_sent)
    assert len(slack.delivered) == 1
    assert outbox(data_dir).get(KEY_50).status == "sending"  # type: ignore[union-attr]

    time.sleep(0.6)  # the dead run's claim expires
    assert ticks.tick_and_run().success
    assert skipped(ticks.tick())
    assert ticks.run(dg.RunRequest()).success  # a stray extra run sends nothing either
    assert messages_about(slack, "crossed 50% of its limit") == 2  # resent once, no more
    row = outbox(data_dir).get(KEY_50)
    assert row and (row.status, row.attempts) == ("sent", 2)


@pytest.mark.usefixtures("fast_alerts")
def test_an_alert_claimed_by_another_run_is_not_sent_twice(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    result = ticks.tick()
    assert result.run_requests
    (request,) = result.run_requests
    assert ticks.run(request, selection=[budget_alerts]).success  # the run's first step
    claimed = outbox(data_dir).claim([KEY_50], "other-run", time.time(), lease=60)
    assert [r.dedupe_key for r in claimed] == [KEY_50]
    assert ticks.run(request, selection=[alert_outbox]).success  # then its delivery
    assert slack.received == []


def test_without_webhook_url_alerts_are_recorded_not_sent(
    data_dir: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    ticks = Ticks(instance)
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    assert ticks.tick_and_run().success
    row = outbox(data_dir).get(KEY_50)
    assert row and (row.status, row.attempts) == ("pending", 0)
    assert row.error_message == (
        "no route for slack:#acme-finance in AGENTOPS_ALERT_ROUTES and SLACK_WEBHOOK_URL is not "
        "set: recorded, not sent"
    )
    assert skipped(ticks.tick())
    snapshot = (
        duckdb.connect()
        .sql(
            f"select dedupe_key, status, attempts, error_message"
            f" from '{data_dir}/outbox/alerts/outbox.parquet'"
        )
        .fetchall()
    )
    assert snapshot == [(KEY_50, "pending", 0, row.error_message)]
    assert not (data_dir / "landing" / "_alerts").exists()  # nothing sent, no events


@pytest.mark.usefixtures("fast_alerts")
def test_email_destination_is_recorded_as_not_deliverable(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    budget = bw.Budget(
        budget_id="acme-monthly", period="monthly", destination="email:finance@acme.example",
        spend_usd="300", limit_usd="500",
    )  # fmt: skip
    bw.publish(data_dir, [budget])
    assert ticks.tick_and_run().success  # not a webhook refusing: the run stays green
    (row,) = outbox(data_dir).rows()
    assert row.status == "failed"
    assert "email destinations are not deliverable yet" in (row.error_message or "")
    assert slack.received == []
    assert skipped(ticks.tick())


@pytest.mark.usefixtures("fast_alerts")
def test_generic_json_webhook(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    bw.publish(data_dir, [bw.Budget(spend_usd="13", destination="webhook:ops")])
    assert ticks.tick_and_run().success
    (received,) = slack.received
    assert received.path == "/hooks/json"
    (alert,) = received.body["alerts"]
    assert alert["dedupe_key"] == KEY_50
    assert alert["facts"]["spend_usd"] == "13"
    assert alert["link"] == (
        "http://localhost:8501/budgets?tenant=acme&budget_id=acme-daily"
        "&period_start=2026-11-25T00%3A00%3A00Z"
    )


@pytest.mark.usefixtures("fast_alerts")
def test_forecast_and_reliability_alerts(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    # $14 of $25 (56%) at half time, thresholds 80 and 100: none crossed, forecast $28 > $25.
    # 4 of the 10 runs that ended in the last hour failed (40% > 25%); older ones don't count.
    budget = bw.Budget(spend_usd="14", thresholds=(80, 100), as_of=bw.AS_OF)
    runs = [bw.Run(f"r{i}", run_status="failed" if i < 4 else "succeeded") for i in range(10)]
    runs.append(bw.Run("old", run_status="failed", ended_at=bw.AS_OF - bw.timedelta(hours=2)))
    bw.publish(data_dir, [budget], runs)
    assert ticks.tick_and_run().success
    keys = sorted(r.dedupe_key for r in outbox(data_dir).rows())
    assert keys == [
        "alert:acme:forecast:acme-daily:2026-11-25T00:00:00Z",
        "alert:acme:reliability:acme:support-ticket:2026-11-25T12:00:00Z",
    ]
    texts = slack.delivered_texts()
    assert any("is on track to exceed its limit" in t and "$28.00" in t for t in texts)
    assert any("4 of 10 runs that ended in the hour" in t for t in texts)
    bw.publish(data_dir, [budget], runs)
    assert skipped(ticks.tick())  # once per period, once per workflow and hour


@pytest.mark.usefixtures("fast_alerts")
def test_sent_alerts_become_events_and_the_snapshot_shows_delivery(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    assert ticks.tick_and_run().success
    (events_file,) = (data_dir / "landing" / "_alerts").glob("*.jsonl")
    lines = events_file.read_bytes().splitlines()
    events = [orjson.loads(line) for line in lines]
    assert [e["event_type"] for e in events] == [
        "budget.threshold_hit",
        "alert.emitted",
        "run.completed",
    ]
    for line in lines:
        assert isinstance(check_line(line, bw.AS_OF + bw.timedelta(days=30)), ValidEvent)
    assert events[0]["budget"]["budget_id"] == "acme-daily"
    assert events[1]["alert"]["destination"] == "slack:#acme-finance"
    # The snapshot in the column layout of dbt's stg_outbox__alerts.
    row = (
        duckdb.connect()
        .sql(
            f"""select dedupe_key, alert_id, destination, lower(status), cast(attempts as integer),
                   cast(last_attempt_at as timestamptz) is not null,
                   cast(sent_at as timestamptz) is not null, error_message,
                   cast(recorded_at as timestamptz) is not null
            from read_parquet('{data_dir}/outbox/alerts/*.parquet', union_by_name = true)"""
        )
        .fetchall()
    )
    assert row == [(KEY_50, KEY_50, "slack:#acme-finance", "sent", 1, True, True, None, True)]
    # A later pass writes no second events file for the same alert.
    assert ticks.run(dg.RunRequest()).success
    assert len(list((data_dir / "landing" / "_alerts").glob("*.jsonl"))) == 1


def test_sensor_skips_until_a_warehouse_is_published(
    data_dir: Path, instance: dg.DagsterInstance
) -> None:
    result = Ticks(instance).tick()
    assert skipped(result, f"no published warehouse at {data_dir / 'warehouse.duckdb'}")


@pytest.mark.usefixtures("fast_alerts")
def test_destinations_route_per_budget_for_two_tenants_reusing_ids(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = {
        "slack:#acme-finance": f"{slack.url}/routes/acme-finance",
        "webhook:ops": f"{slack.url}/routes/ops",
    }
    routes_file = data_dir / "routes.json"
    routes_file.write_text(json.dumps(routes))
    monkeypatch.setenv("AGENTOPS_ALERT_ROUTES", str(routes_file))
    ticks = Ticks(instance)
    # Both tenants call their budget `daily`; zeta's channel has no route.
    bw.publish(
        data_dir,
        [
            bw.Budget(budget_id="daily", spend_usd="13"),
            bw.Budget(budget_id="daily", tenant_id="zeta", destination="slack:#zeta-finance",
                      spend_usd="21"),
            bw.Budget(budget_id="ops", destination="webhook:ops", spend_usd="13"),
        ],
    )  # fmt: skip
    assert ticks.tick_and_run().success
    got = sorted((r.path, r.status) for r in slack.received)
    assert got == [
        ("/routes/acme-finance", 200),
        ("/routes/ops", 200),
        ("/services/T0/B0/x", 200),  # zeta's fallback
    ]
    by_path = {r.path: r.body for r in slack.received}
    assert by_path["/routes/acme-finance"]["text"] == "Budget daily crossed 50% of its limit"
    assert (
        by_path["/services/T0/B0/x"]["text"] == "Budget daily crossed 80% of its limit (also 50%)"
    )
    assert "tenant=zeta&budget_id=daily" in json.dumps(by_path["/services/T0/B0/x"])
    assert [a["dedupe_key"] for a in by_path["/routes/ops"]["alerts"]] == [
        budget_alert_key("acme", "ops", bw.DAY_START, 50)
    ]
    note = "no route for slack:#zeta-finance in AGENTOPS_ALERT_ROUTES: sent to SLACK_WEBHOOK_URL"
    snapshot = (
        duckdb.connect()
        .sql(
            f"select dedupe_key, status, route_note from '{data_dir}/outbox/alerts/outbox.parquet'"
            " order by dedupe_key"
        )
        .fetchall()
    )
    assert snapshot == [
        (budget_alert_key("acme", "daily", bw.DAY_START, 50), "sent", None),
        (budget_alert_key("acme", "ops", bw.DAY_START, 50), "sent", None),
        (budget_alert_key("zeta", "daily", bw.DAY_START, 50), "sent", note),
        (budget_alert_key("zeta", "daily", bw.DAY_START, 80), "sent", note),
    ]
    assert skipped(ticks.tick())


def test_a_bad_routes_setting_is_refused_with_its_name(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    monkeypatch.setenv("AGENTOPS_ALERT_ROUTES", '{"slack:#a": "not a url"}')
    bw.publish(data_dir, [bw.Budget(spend_usd="13")])
    with pytest.raises(ValueError, match=r"AGENTOPS_ALERT_ROUTES: 'slack:#a': 'not a url'"):
        Ticks(instance).tick()


@pytest.mark.usefixtures("fast_alerts")
def test_crossings_of_a_closed_period_are_recorded_and_summarised_once(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    ticks = Ticks(instance)
    yesterday = bw.DAY_START - bw.timedelta(days=1)

    def publish(previous_spend: str) -> None:
        previous = bw.Budget(
            period_kind="previous", period_start=yesterday, period_end=bw.DAY_START,
            spend_usd=previous_spend,
        )  # fmt: skip
        bw.publish(data_dir, [bw.Budget(spend_usd="2"), previous])

    publish("21")  # 84% of yesterday's limit, found at 21:00 today: closed since 01:00
    assert ticks.tick_and_run().success
    (message,) = slack.delivered
    assert message["text"] == (
        "Budget acme-daily: its daily period from 2026-11-24 (UTC) closed at 84.0% of its limit"
    )
    summary = "alert:acme:closed:acme-daily:2026-11-24T00:00:00Z"
    key = lambda t: budget_alert_key("acme", "acme-daily", yesterday, t)  # noqa: E731
    statuses = {r.dedupe_key: r.status for r in outbox(data_dir).rows()}
    assert statuses == {key(50): "suppressed", key(80): "suppressed", summary: "sent"}
    assert summary in (outbox(data_dir).get(key(80)).error_message or "")  # type: ignore[union-attr]

    publish("26")  # late spend in the closed period: 100% crossed, recorded, not sent again
    assert ticks.tick_and_run().success
    assert len(slack.delivered) == 1
    assert outbox(data_dir).get(key(100)).status == "suppressed"  # type: ignore[union-attr]
    snapshot = (
        duckdb.connect()
        .sql(
            f"select status, count(*) from '{data_dir}/outbox/alerts/outbox.parquet'"
            " group by 1 order by 1"
        )
        .fetchall()
    )
    assert snapshot == [("sent", 1), ("suppressed", 3)]
    assert skipped(ticks.tick())


def bw_period(budget_id: str) -> BudgetPeriod:
    return BudgetPeriod(
        budget_id=budget_id, tenant_id="acme", scope="tenant", scope_id="acme", period="daily",
        period_kind="current", period_start=bw.DAY_START,
        period_end=bw.DAY_START + bw.timedelta(days=1), as_of=bw.AS_OF,
        limit_usd=bw.Decimal(25), spend_usd=bw.Decimal(13), pct_used=52.0,
        thresholds_crossed=(50.0,), forecast_usd=None, elapsed_fraction=0.5,
        enforcement="alert", destination="slack:#x",
    )  # fmt: skip


def test_two_delivery_passes_at_once_never_crash(data_dir: Path) -> None:
    """Today's snapshot and events files are written under per-writer temporary names."""
    box = outbox(data_dir)
    alerts = threshold_alerts([bw_period(f"b{i}") for i in range(20)], [])
    box.enqueue(alerts, time.time())
    dest = data_dir / "outbox" / "alerts" / "outbox.parquet"
    errors: list[BaseException] = []

    def export() -> None:
        try:
            for _ in range(40):
                assert box.export_snapshot(dest) == 20
        except BaseException as exc:  # noqa: BLE001 - the test reports any
            errors.append(exc)

    threads = [threading.Thread(target=export) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert duckdb.connect().sql(f"select count(*) from '{dest}'").fetchall() == [(20,)]
    assert sorted(p.name for p in dest.parent.iterdir()) == [
        ".outbox.parquet.lock",
        "outbox.parquet",
    ]


def test_an_outbox_of_the_first_layout_is_upgraded_in_place(data_dir: Path) -> None:
    path = data_dir / "outbox" / "outbox.sqlite3"
    path.parent.mkdir(parents=True)
    (old,) = threshold_alerts([bw_period("old")], [])
    con = sqlite3.connect(path)
    con.executescript(
        """CREATE TABLE alerts (dedupe_key TEXT PRIMARY KEY, alert_id TEXT NOT NULL,
        alert_type TEXT NOT NULL, destination TEXT NOT NULL, payload BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        next_attempt_at REAL, claim_id TEXT, claimed_until REAL, last_attempt_at REAL,
        sent_at REAL, error_message TEXT, events_written INTEGER NOT NULL DEFAULT 0);"""
    )
    con.execute(
        "INSERT INTO alerts (dedupe_key, alert_id, alert_type, destination, payload, status,"
        " attempts, created_at, updated_at, sent_at) VALUES (?, ?, ?, ?, ?, 'sent', 1, 1, 2, 2)",
        (old.dedupe_key, old.alert_id, old.alert_type, old.destination, old.to_json()),
    )
    con.commit()
    con.close()
    box = Outbox(path)
    suppressed = replace(old, dedupe_key="k2", suppressed="closed")
    assert box.enqueue([suppressed], 3.0) == ["k2"]
    assert [(r.dedupe_key, r.status, r.attempts) for r in box.rows()] == [
        (old.dedupe_key, "sent", 1),
        ("k2", "suppressed", 0),
    ]

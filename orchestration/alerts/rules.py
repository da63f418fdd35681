"""Which alerts to raise, their dedupe keys, how they group into messages: pure functions.

Nothing here touches a file, a socket or a clock; the sensor and the delivery op pass in the
rows they read, the keys the outbox already holds and the time. Three kinds of alert:

- `budget_threshold`: a budget period's spend crossed one of its thresholds (percent of the
  limit). One alert per (tenant_id, budget_id, period_start, threshold), keyed exactly as
  dbt's `budget_alert_dedupe_key` macro keys it, so fct_alerts and the outbox agree.
  Only while the period is open: a period is closed from its end plus the close grace
  (`$AGENTOPS_BUDGET_CLOSE_GRACE`, ingestion/settings.py). A crossing found after that is
  recorded as `suppressed` (never sent: the period is over, nobody can act on it) and the
  period gets one `budget_period_closed` summary instead ("period closed at N%").
- `budget_forecast`: the current period's straight-line forecast exceeds the limit while the
  spend is still under it ("on track to exceed"), once `forecast_min_elapsed` of the period
  has passed; once per budget period.
- `workflow_failure_rate`: the failed share of a workflow's runs that ended in the last hour
  is above a level, with a minimum number of runs; once per workflow and clock hour.
- `pipeline_run_failure`: a Dagster run of this pipeline failed; once per run. It is about the
  pipeline, not a tenant's agents: it adds no events to the stream (fct_alerts lists it from
  the outbox).

Budget and alert ids are chosen by whoever defines them, and two tenants may pick the same
ones, so every dedupe key names the tenant (`budget_alert_key`, `emitted_alert_key`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from urllib.parse import urlencode

import orjson

from orchestration.alerts.keys import (
    budget_alert_key,
    closed_alert_id,
    emitted_alert_key,
    forecast_alert_id,
    iso_utc,
    reliability_alert_id,
    run_failure_alert_key,
    short_hash,
    threshold_text,
)

BUDGET_THRESHOLD = "budget_threshold"
BUDGET_FORECAST = "budget_forecast"
BUDGET_PERIOD_CLOSED = "budget_period_closed"
WORKFLOW_FAILURE_RATE = "workflow_failure_rate"
PIPELINE_RUN_FAILURE = "pipeline_run_failure"

# Who the alert events belong to when a budget covers more than one workspace or project.
ALL = "*"
ALERTS_AGENT_ID = "agentops-alerts"
# Slack allows 50 blocks per message; a digest lists at most this many alerts in full.
MAX_DIGEST_SECTIONS = 40
# Slack cuts a section's text at 3000 characters; a run's error is cut well before.
MAX_ERROR_CHARS = 1500


@dataclass(frozen=True)
class BudgetPeriod:
    """One row of `marts.budget_status`: the columns the budget alerts use."""

    budget_id: str
    tenant_id: str
    scope: str
    scope_id: str
    period: str
    period_kind: str  # 'current' or 'previous'
    period_start: datetime
    period_end: datetime
    as_of: datetime
    limit_usd: Decimal
    spend_usd: Decimal
    pct_used: float | None
    thresholds_crossed: tuple[float, ...]
    forecast_usd: Decimal | None
    elapsed_fraction: float
    enforcement: str
    destination: str
    # Workspace and project the budget's scope belongs to within its tenant ('*' for "all of
    # them"), resolved from usage.
    workspace_id: str = ALL
    project_id: str = ALL
    # period_end plus the close grace (budget_status.closes_at); None: period_end.
    closes_at: datetime | None = None

    @property
    def is_closed(self) -> bool:
        """Past its end plus the close grace when the build computed it (`as_of`, as
        budget_status.is_closed): its crossings are no live alerts any more."""
        return self.as_of >= (self.closes_at or self.period_end)

    @property
    def tenant(self) -> tuple[str, str, str]:
        """Tenant, workspace and project the alert events of this budget carry."""
        return (self.tenant_id, self.workspace_id, self.project_id)


@dataclass(frozen=True)
class WorkflowHealth:
    """Runs of one workflow that ended in the hour before `as_of`, and how many failed."""

    tenant_id: str
    workspace_id: str
    project_id: str
    workflow_id: str
    ended_runs: int
    failed_runs: int
    as_of: datetime

    @property
    def failure_rate(self) -> float:
        return self.failed_runs / self.ended_runs if self.ended_runs else 0.0


@dataclass(frozen=True)
class Alert:
    """One alert: its dedupe key (the outbox's unique key) and what the message says.

    `facts` holds JSON values only (money as decimal strings) so it round-trips through the
    outbox unchanged; `threshold` and `current_value` are percents.
    """

    dedupe_key: str
    alert_id: str
    alert_type: str
    destination: str
    threshold: float
    current_value: float
    facts: Mapping[str, Any]
    # Why the alert is recorded but never sent (a crossing in a closed period); None: send it.
    suppressed: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "dedupe_key": self.dedupe_key,
                "alert_id": self.alert_id,
                "alert_type": self.alert_type,
                "destination": self.destination,
                "threshold": self.threshold,
                "current_value": self.current_value,
                "facts": dict(self.facts),
                "suppressed": self.suppressed,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Alert:
        d = orjson.loads(raw)
        return cls(
            dedupe_key=d["dedupe_key"],
            alert_id=d["alert_id"],
            alert_type=d["alert_type"],
            destination=d["destination"],
            threshold=float(d["threshold"]),
            current_value=float(d["current_value"]),
            facts=d["facts"],
            suppressed=d.get("suppressed"),
        )


# --- time ---------------------------------------------------------------------------------


def hour_start(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# --- which alerts are new -----------------------------------------------------------------


def newly_crossed(row: BudgetPeriod, known_keys: Iterable[str]) -> list[float]:
    """Thresholds the period has crossed that have no alert yet, lowest first."""
    known = set(known_keys)
    return [
        t
        for t in sorted(set(row.thresholds_crossed))
        if budget_alert_key(row.tenant_id, row.budget_id, row.period_start, t) not in known
    ]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _budget_facts(row: BudgetPeriod) -> dict[str, Any]:
    return {
        "budget_id": row.budget_id,
        "tenant_id": row.tenant_id,
        "scope": row.scope,
        "scope_id": row.scope_id,
        "period": row.period,
        "period_kind": row.period_kind,
        "period_start": iso_utc(row.period_start),
        "period_end": iso_utc(row.period_end),
        "as_of": iso_utc(row.as_of),
        "limit_usd": _money(row.limit_usd),
        "spend_usd": _money(row.spend_usd),
        "pct_used": row.pct_used,
        "forecast_usd": _money(row.forecast_usd),
        "elapsed_fraction": row.elapsed_fraction,
        "enforcement": row.enforcement,
        "tenant": list(row.tenant),
    }


def threshold_alerts(rows: Iterable[BudgetPeriod], known_keys: Iterable[str]) -> list[Alert]:
    """One alert per threshold newly crossed in a budget period, highest first.

    In a closed period the crossings are recorded as suppressed and the period gets one
    `budget_period_closed` summary, unless it already has one.
    """
    known = set(known_keys)
    out: list[Alert] = []
    for row in rows:
        closed = row.is_closed
        crossed = sorted(newly_crossed(row, known), reverse=True)
        if not crossed:
            continue
        facts = _budget_facts(row)
        pct = max(0.0, float(row.pct_used or 0.0))
        summary_id = closed_alert_id(row.budget_id, row.period_start)
        summary_key = emitted_alert_key(row.tenant_id, summary_id)
        for t in crossed:
            key = budget_alert_key(row.tenant_id, row.budget_id, row.period_start, t)
            suppressed = None
            if closed:
                suppressed = (
                    f"the {row.period} period had closed (its end plus the close grace, "
                    f"{iso_utc(row.closes_at or row.period_end)}) when the build of "
                    f"{iso_utc(row.as_of)} found the crossing; not sent, summarised by "
                    f"{summary_key}"
                )
            out.append(
                Alert(
                    dedupe_key=key,
                    alert_id=key,
                    alert_type=BUDGET_THRESHOLD,
                    destination=row.destination,
                    threshold=float(t),
                    current_value=pct,
                    facts=facts,
                    suppressed=suppressed,
                )
            )
        if closed and summary_key not in known:
            out.append(
                Alert(
                    dedupe_key=summary_key,
                    alert_id=summary_id,
                    alert_type=BUDGET_PERIOD_CLOSED,
                    destination=row.destination,
                    threshold=float(crossed[0]),
                    current_value=pct,
                    facts={**facts, "thresholds_not_alerted": sorted(crossed)},
                )
            )
    return out


def forecast_alerts(
    rows: Iterable[BudgetPeriod], known_keys: Iterable[str], min_elapsed: float
) -> list[Alert]:
    """ "On track to exceed": the current period's forecast is over the limit while the spend
    is under it, and at least `min_elapsed` of the period has passed; once per period.

    A threshold crossed already (say 80%) does not hold it back: the forecast says more (the
    limit itself will go). Once the spend is over the limit the 100% alert says it all.
    """
    known = set(known_keys)
    out: list[Alert] = []
    for row in rows:
        if (
            row.period_kind != "current"
            or row.spend_usd >= row.limit_usd
            or row.limit_usd <= 0
            or row.forecast_usd is None
            or row.forecast_usd <= row.limit_usd
            or row.elapsed_fraction < min_elapsed
        ):
            continue
        alert_id = forecast_alert_id(row.budget_id, row.period_start)
        key = emitted_alert_key(row.tenant_id, alert_id)
        if key in known:
            continue
        forecast_pct = float(row.forecast_usd * 100 / row.limit_usd)
        out.append(
            Alert(
                dedupe_key=key,
                alert_id=alert_id,
                alert_type=BUDGET_FORECAST,
                destination=row.destination,
                threshold=100.0,
                current_value=forecast_pct,
                facts=_budget_facts(row),
            )
        )
    return out


def reliability_alerts(
    health: Iterable[WorkflowHealth],
    known_keys: Iterable[str],
    *,
    failure_rate: float,
    min_runs: int,
    destination: str,
) -> list[Alert]:
    """Workflows whose failed share of runs ended in the last hour exceeds `failure_rate`
    (with at least `min_runs` ended runs); once per workflow and clock hour of `as_of`."""
    known = set(known_keys)
    out: list[Alert] = []
    for h in health:
        if h.ended_runs < max(1, min_runs) or h.failure_rate <= failure_rate:
            continue
        alert_id = reliability_alert_id(h.tenant_id, h.workflow_id, hour_start(h.as_of))
        key = emitted_alert_key(h.tenant_id, alert_id)
        if key in known:
            continue
        out.append(
            Alert(
                dedupe_key=key,
                alert_id=alert_id,
                alert_type=WORKFLOW_FAILURE_RATE,
                destination=destination,
                threshold=100.0 * failure_rate,
                current_value=100.0 * h.failure_rate,
                facts={
                    "tenant": [h.tenant_id, h.workspace_id, h.project_id],
                    "workflow_id": h.workflow_id,
                    "ended_runs": h.ended_runs,
                    "failed_runs": h.failed_runs,
                    "window_end": iso_utc(h.as_of),
                    "hour_start": iso_utc(hour_start(h.as_of)),
                },
            )
        )
    return out


def run_failure_alert(
    run_id: str, job_name: str, error: str, failed_at: datetime, destination: str
) -> Alert:
    """The alert of one failed pipeline run."""
    key = run_failure_alert_key(run_id)
    return Alert(
        dedupe_key=key,
        alert_id=key,
        alert_type=PIPELINE_RUN_FAILURE,
        destination=destination,
        threshold=0.0,
        current_value=0.0,
        facts={
            "run_id": run_id,
            "job_name": job_name,
            "error": error[:MAX_ERROR_CHARS],
            "failed_at": iso_utc(failed_at),
        },
    )


# --- grouping and messages ----------------------------------------------------------------


def _unit_key(alert: Alert) -> tuple[str, ...]:
    if alert.alert_type == BUDGET_THRESHOLD:
        f = alert.facts
        return (BUDGET_THRESHOLD, str(f["tenant_id"]), str(f["budget_id"]), str(f["period_start"]))
    return (alert.alert_type, alert.dedupe_key)


def units(alerts: Iterable[Alert]) -> list[tuple[Alert, ...]]:
    """Alerts that read as one: the thresholds of one budget period found in the same pass
    (highest first), else each alert alone. Most severe first: by threshold, highest first."""
    groups: dict[tuple[str, ...], list[Alert]] = {}
    for a in alerts:
        groups.setdefault(_unit_key(a), []).append(a)
    out = [tuple(sorted(g, key=lambda a: (-a.threshold, a.dedupe_key))) for g in groups.values()]
    return sorted(out, key=lambda u: (-u[0].threshold, u[0].dedupe_key))


@dataclass(frozen=True)
class Message:
    """What one HTTP request to one webhook carries: one alert (with the lower thresholds of
    its budget period crossed in the same pass), or a digest of several."""

    alerts: tuple[Alert, ...]

    @property
    def units(self) -> list[tuple[Alert, ...]]:
        return units(self.alerts)

    @property
    def is_digest(self) -> bool:
        return len(self.units) > 1

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(a.dedupe_key for a in self.alerts)


def plan_messages(alerts: Sequence[Alert], digest_min: int) -> list[Message]:
    """Alerts bound for one webhook in one pass -> messages, most severe first.

    Thresholds of one budget period crossed together are one message about the highest (a
    100% alert never arrives before the 80% one, nor an 80% after the 100%). Once there are
    `digest_min` or more such messages they become a single digest (storm control).
    """
    grouped = units(alerts)
    if not grouped:
        return []
    if len(grouped) >= max(2, digest_min):
        return [Message(tuple(a for u in grouped for a in u))]
    return [Message(u) for u in grouped]


def _usd(value: str | None) -> str:
    if value is None:
        return "n/a"
    return f"${Decimal(value).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def budget_link(budgets_url: str, facts: Mapping[str, Any]) -> str:
    """The Budgets page on this budget of this tenant and the alert's period."""
    sep = "&" if "?" in budgets_url else "?"
    query = {"tenant": facts["tenant_id"], "budget_id": facts["budget_id"]}
    if facts.get("period_start"):
        query["period_start"] = facts["period_start"]
    return f"{budgets_url}{sep}{urlencode(query)}"


def _period_text(facts: Mapping[str, Any]) -> str:
    start = facts["period_start"].replace("T00:00:00Z", "")
    return f"{facts['period']} period from {start} (UTC)"


def alert_title(alert: Alert) -> str:
    f = alert.facts
    if alert.alert_type == BUDGET_THRESHOLD:
        return f"Budget {f['budget_id']} crossed {threshold_text(alert.threshold)}% of its limit"
    if alert.alert_type == BUDGET_FORECAST:
        return f"Budget {f['budget_id']} is on track to exceed its limit"
    if alert.alert_type == BUDGET_PERIOD_CLOSED:
        return (
            f"Budget {f['budget_id']}: its {_period_text(f)} closed at "
            f"{_pct(f['pct_used'])} of its limit"
        )
    if alert.alert_type == PIPELINE_RUN_FAILURE:
        return f"Pipeline run {f['run_id']} of {f['job_name']} failed"
    return (
        f"Workflow {f['workflow_id']} ({f['tenant'][0]}): "
        f"{_pct(alert.current_value)} of runs failed in the last hour"
    )


def unit_title(unit: Sequence[Alert]) -> str:
    """The title of an alert and the lower thresholds crossed with it."""
    title = alert_title(unit[0])
    if len(unit) > 1:
        also = ", ".join(f"{threshold_text(a.threshold)}%" for a in unit[1:])
        title += f" (also {also})"
    return title


def unit_text(unit: Sequence[Alert], budgets_url: str) -> str:
    text = alert_text(unit[0], budgets_url)
    if len(unit) > 1:
        first, _, rest = text.partition("\n")
        text = f"*{unit_title(unit)}*\n{rest}" if first.startswith("*") else text
    return text


def alert_text(alert: Alert, budgets_url: str) -> str:
    """The body of an alert in Slack mrkdwn (plain enough for any JSON webhook)."""
    f = alert.facts
    if alert.alert_type == BUDGET_PERIOD_CLOSED:
        missed = ", ".join(f"{threshold_text(t)}%" for t in f["thresholds_not_alerted"])
        return "\n".join(
            [
                f"*{alert_title(alert)}*",
                f"Scope: {f['scope']} `{f['scope_id']}`, {_period_text(f)}; the period ended "
                f"{f['period_end']}",
                f"Spend: {_usd(f['spend_usd'])} of {_usd(f['limit_usd'])}",
                f"Thresholds crossed but seen only after the period closed (not sent as live "
                f"alerts): {missed}",
                f"<{budget_link(budgets_url, f)}|Open this period in the dashboard>",
            ]
        )
    if alert.alert_type in (BUDGET_THRESHOLD, BUDGET_FORECAST):
        lines = [
            f"*{alert_title(alert)}*",
            f"Scope: {f['scope']} `{f['scope_id']}`, {_period_text(f)}",
            f"Spend: {_usd(f['spend_usd'])} of {_usd(f['limit_usd'])} ({_pct(f['pct_used'])} used)",
            f"Forecast at period end: {_usd(f['forecast_usd'])}"
            + (
                f" ({_pct(alert.current_value)} of the limit)"
                if alert.alert_type == BUDGET_FORECAST
                else ""
            ),
            f"Enforcement: {f['enforcement']}",
            f"<{budget_link(budgets_url, f)}|Open the budget in the dashboard>",
        ]
        return "\n".join(lines)
    if alert.alert_type == PIPELINE_RUN_FAILURE:
        return f"*{alert_title(alert)}* at {f['failed_at']}\n```{f['error']}```"
    return "\n".join(
        [
            f"*{alert_title(alert)}*",
            f"{f['failed_runs']} of {f['ended_runs']} runs that ended in the hour before "
            f"{f['window_end']} failed; the alert level is above {_pct(alert.threshold)}.",
        ]
    )


def slack_payload(message: Message, budgets_url: str) -> dict[str, Any]:
    """An incoming-webhook body: `text` (notifications, fallback) plus mrkdwn blocks."""
    grouped = message.units
    if len(grouped) == 1:
        (unit,) = grouped
        return {
            "text": unit_title(unit),
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": unit_text(unit, budgets_url)},
                }
            ],
        }
    n = len(grouped)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{n} AgentOps alerts"}}
    ]
    for unit in grouped[:MAX_DIGEST_SECTIONS]:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": unit_text(unit, budgets_url)}}
        )
    if n > MAX_DIGEST_SECTIONS:
        rest = n - MAX_DIGEST_SECTIONS
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"...and {rest} more: see <{budgets_url}>"},
            }
        )
    titles = "; ".join(unit_title(u) for u in grouped[:5])
    return {"text": f"{n} AgentOps alerts: {titles}", "blocks": blocks}


def json_payload(message: Message, budgets_url: str) -> dict[str, Any]:
    """The generic JSON webhook body: structured alerts (most severe first) plus the text."""
    return {
        "source": "agentops-warehouse",
        "digest": message.is_digest,
        "alerts": [
            {
                "dedupe_key": a.dedupe_key,
                "alert_id": a.alert_id,
                "alert_type": a.alert_type,
                "destination": a.destination,
                "title": alert_title(a),
                "text": alert_text(a, budgets_url),
                "threshold": a.threshold,
                "current_value": a.current_value,
                "facts": dict(a.facts),
                **({"link": budget_link(budgets_url, a.facts)} if "budget_id" in a.facts else {}),
            }
            for u in message.units
            for a in u
        ],
    }


# --- the alert as events in our own stream ------------------------------------------------


def _number(value: str | float) -> orjson.Fragment:
    """A JSON number with the decimal's own digits (money must not pass through float)."""
    d = Decimal(str(value)).quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN)
    return orjson.Fragment(format(max(d, Decimal(0)), "f").encode())


def _envelope(alert: Alert, kind: str, occurred_at: datetime) -> dict[str, Any]:
    tenant_id, workspace_id, project_id = alert.facts.get("tenant") or (ALL, ALL, ALL)
    run: dict[str, Any] = {
        "run_id": f"{ALERTS_AGENT_ID}:{short_hash(alert.dedupe_key)}",
        "agent_id": ALERTS_AGENT_ID,
        "workflow_id": alert.alert_type,
    }
    return {
        "event_version": "0",
        "event_id": f"{ALERTS_AGENT_ID}:{kind}:{short_hash(alert.dedupe_key, 16)}",
        "event_type": kind,
        "occurred_at": iso_utc(occurred_at),
        "tenant": {"tenant_id": tenant_id, "workspace_id": workspace_id, "project_id": project_id},
        "run": run,
        "trace": {
            "trace_id": short_hash(alert.dedupe_key, 16),
            "span_id": short_hash(f"{kind}|{alert.dedupe_key}"),
            "parent_span_id": None,
        },
        "attributes": {"dedupe_key": alert.dedupe_key},
    }


def alert_events(alert: Alert, detected_at: datetime, sent_at: datetime) -> list[dict[str, Any]]:
    """The events an alert that was sent adds to our own stream (contract v0).

    A threshold alert is a `budget.threshold_hit` (when it was detected) and an
    `alert.emitted` (when it was sent); the other kinds are an `alert.emitted`. Each alert is
    one run of the `agentops-alerts` agent, closed by a `run.completed` (no tokens), so that
    `fct_runs` shows it as succeeded rather than running forever. Event ids derive from the
    dedupe key, so writing them twice (a resend) never adds a row.
    """
    out: list[dict[str, Any]] = []
    f = alert.facts
    if alert.alert_type == PIPELINE_RUN_FAILURE:
        return out
    if alert.alert_type == BUDGET_THRESHOLD:
        hit = _envelope(alert, "budget.threshold_hit", min(detected_at, sent_at))
        hit["budget"] = {
            "budget_id": f["budget_id"],
            "scope": f["scope"],
            "scope_id": f["scope_id"],
            "period": f["period"],
            "period_start": f["period_start"],
            "limit_usd": _number(f["limit_usd"]),
            "threshold_pct": alert.threshold,
            "spend_usd": _number(f["spend_usd"]),
            "enforcement": f["enforcement"],
        }
        out.append(hit)
    emitted = _envelope(alert, "alert.emitted", sent_at)
    emitted["alert"] = {
        "alert_id": alert.alert_id,
        "alert_type": alert.alert_type,
        "threshold": alert.threshold,
        "current_value": max(0.0, alert.current_value),
        "destination": alert.destination,
        "sent_at": iso_utc(sent_at),
    }
    out.append(emitted)
    done = _envelope(alert, "run.completed", sent_at)
    done["run"].update(
        status="succeeded",
        started_at=iso_utc(min(detected_at, sent_at)),
        ended_at=iso_utc(sent_at),
    )
    done["resource_usage"] = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    out.append(done)
    return out


def events_jsonl(events: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)

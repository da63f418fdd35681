"""The knobs of the orchestration layer, each read from one environment variable.

The schedule's cron and the sensors' intervals are read when the definitions load; the rest
when a tick or run needs them, so a test or an operator changes them by setting the variable.
Every default is what `make dagster` uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is not a number; unset it or give e.g. {default}"
        ) from None


def _int(name: str, default: int) -> int:
    value = _float(name, default)
    if value != int(value):
        raise ValueError(f"{name}={value} must be a whole number")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """Orchestration settings; `Settings.from_env()` documents each variable's name."""

    # When the pipeline runs: the schedule, and how often the sensors look.
    schedule_cron: str = "* * * * *"
    # A scheduled tick with nothing new since the last successful run skips, unless that run
    # started this long ago (budgets' as-of time and forecasts move with the clock); 0 runs
    # the pipeline on every tick.
    max_staleness_seconds: float = 600.0
    landing_sensor_seconds: int = 5
    alert_sensor_seconds: int = 10
    # A landing file whose last line has no newline counts as complete after this long.
    landing_grace_seconds: float = 60.0
    # Where a budget alert links to; `?budget_id=...` is appended.
    budgets_url: str = "http://localhost:8501/budgets"
    # Reliability alert: failed share of the runs that ended in the last hour, per workflow.
    reliability_failure_rate: float = 0.25
    reliability_min_runs: int = 10
    reliability_destination: str = "slack:#agentops-alerts"
    # Forecast alert: not before this share of the period has elapsed (a straight line
    # through the first minutes of a day says little).
    forecast_min_elapsed: float = 0.1
    # Storm control: at least this many seconds between two messages to one webhook, and a
    # single digest message once a delivery pass has this many alerts for one webhook.
    min_message_interval_seconds: float = 1.0
    digest_min_alerts: int = 3
    # Delivery: how long a claimed alert is reserved for the run sending it (a run that dies
    # mid-send releases it after this), the back-off before retrying a transient failure, the
    # longest Retry-After waited out within a run (longer ones are retried on a later tick),
    # and the HTTP timeout of one request.
    claim_lease_seconds: float = 300.0
    retry_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 30.0
    http_timeout_seconds: int = 10

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            schedule_cron=os.environ.get("AGENTOPS_SCHEDULE_CRON", d.schedule_cron),
            max_staleness_seconds=_float("AGENTOPS_MAX_STALENESS_SECONDS", d.max_staleness_seconds),
            landing_sensor_seconds=_int(
                "AGENTOPS_LANDING_SENSOR_SECONDS", d.landing_sensor_seconds
            ),
            alert_sensor_seconds=_int("AGENTOPS_ALERT_SENSOR_SECONDS", d.alert_sensor_seconds),
            landing_grace_seconds=_float("AGENTOPS_LANDING_GRACE_SECONDS", d.landing_grace_seconds),
            budgets_url=os.environ.get("AGENTOPS_BUDGETS_URL", d.budgets_url),
            reliability_failure_rate=_float(
                "AGENTOPS_RELIABILITY_FAILURE_RATE", d.reliability_failure_rate
            ),
            reliability_min_runs=_int("AGENTOPS_RELIABILITY_MIN_RUNS", d.reliability_min_runs),
            reliability_destination=os.environ.get(
                "AGENTOPS_RELIABILITY_DESTINATION", d.reliability_destination
            ),
            forecast_min_elapsed=_float("AGENTOPS_FORECAST_MIN_ELAPSED", d.forecast_min_elapsed),
            min_message_interval_seconds=_float(
                "AGENTOPS_ALERT_MIN_INTERVAL_SECONDS", d.min_message_interval_seconds
            ),
            digest_min_alerts=_int("AGENTOPS_ALERT_DIGEST_MIN", d.digest_min_alerts),
            claim_lease_seconds=_float("AGENTOPS_ALERT_LEASE_SECONDS", d.claim_lease_seconds),
            retry_backoff_seconds=_float(
                "AGENTOPS_ALERT_RETRY_BACKOFF_SECONDS", d.retry_backoff_seconds
            ),
            max_retry_after_seconds=_float(
                "AGENTOPS_ALERT_MAX_RETRY_AFTER_SECONDS", d.max_retry_after_seconds
            ),
            http_timeout_seconds=_int(
                "AGENTOPS_ALERT_HTTP_TIMEOUT_SECONDS", d.http_timeout_seconds
            ),
        )

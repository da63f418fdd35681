"""Alert dedupe keys and ids: the one Python home of the keys dbt's alert macros also build.

Budget and alert ids are chosen by whoever defines them, and two tenants may pick the same
ones, so every dedupe key names the tenant: `<kind>:<tenant>:...`, the tenant id with '%' and
':' percent-encoded so that it ends at the first ':' (dbt's `alert_key_tenant`). A test holds
these equal to the keys dbt computes. (Event keys, `(tenant_id, id)`, live in
ingestion/validation/keys.py.)
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def iso_utc(ts: datetime) -> str:
    """`2026-11-25T00:00:00Z`: the timestamp format of dedupe keys and events."""
    if ts.tzinfo is None:
        raise ValueError(f"{ts!r} has no time zone; pass UTC timestamps")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def threshold_text(threshold: float) -> str:
    # As dbt's macro: whole numbers without a decimal point.
    return str(int(threshold)) if float(threshold).is_integer() else repr(float(threshold))


def _key_tenant(tenant_id: str) -> str:
    # As dbt's `alert_key_tenant`: the tenant part ends at the first ':' of a key.
    return tenant_id.replace("%", "%25").replace(":", "%3A")


def budget_alert_key(
    tenant_id: str, budget_id: str, period_start: datetime, threshold: float
) -> str:
    """The dedupe key of a threshold alert; equals dbt's `budget_alert_dedupe_key`."""
    return (
        f"budget:{_key_tenant(tenant_id)}:{budget_id}:{iso_utc(period_start)}:"
        f"{threshold_text(threshold)}"
    )


def forecast_alert_id(budget_id: str, period_start: datetime) -> str:
    return f"forecast:{budget_id}:{iso_utc(period_start)}"


def closed_alert_id(budget_id: str, period_start: datetime) -> str:
    """The summary of a budget period whose crossings were seen after it closed."""
    return f"closed:{budget_id}:{iso_utc(period_start)}"


def reliability_alert_id(tenant_id: str, workflow_id: str, hour_start: datetime) -> str:
    return f"reliability:{tenant_id}:{workflow_id}:{iso_utc(hour_start)}"


def emitted_alert_key(tenant_id: str, alert_id: str) -> str:
    """The dedupe key fct_alerts gives an `alert.emitted` event of a tenant; equals dbt's
    `emitted_alert_dedupe_key`: `alert:<tenant_id>:<alert_id>`."""
    return f"alert:{_key_tenant(tenant_id)}:{alert_id}"


def run_failure_alert_key(run_id: str) -> str:
    """The dedupe key of a failed pipeline run's alert (Dagster run ids are unique)."""
    return f"run_failure:{run_id}"


def short_hash(text: str, nbytes: int = 8) -> str:
    return hashlib.blake2b(text.encode(), digest_size=nbytes).hexdigest()

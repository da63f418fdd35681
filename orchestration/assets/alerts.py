"""`budget_alerts` (the alerts the published warehouse calls for, recorded in the outbox) and
`alert_outbox` (one delivery pass over the outbox, and the snapshot dbt reads back).

Both run in `alerts_job`, which budget_threshold_sensor and run_failure_sensor request.
`budget_alerts` reads the published warehouse without declaring it as a dependency: the
outbox feeds `fct_alerts` back into the warehouse, and an asset graph has no cycles.
"""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import time
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.alerts.delivery import Router, deliver_pending, parse_routes
from orchestration.alerts.readers import alerts_called_for
from orchestration.alerts.rules import run_failure_alert
from orchestration.resources import (
    AlertsResource,
    SlackResource,
    WarehouseResource,
    WebhookResource,
)


@dg.asset(
    key="budget_alerts",
    group_name="alerts",
    kinds={"sqlite"},
    description=(
        "Every budget threshold newly crossed, budget on track to exceed its limit and "
        "workflow failure rate over its level in the published warehouse (marts.budget_status, "
        "marts.fct_runs), recorded in the alert outbox once per dedupe key."
    ),
)
def budget_alerts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    published: DuckDBResource,
    alerts: AlertsResource,
) -> dg.MaterializeResult:
    version = warehouse.published_version()
    new: list[str] = []
    candidates = 0
    if version is None:
        context.log.info(f"no published warehouse at {warehouse.published_path} yet")
    else:
        with published.get_connection() as con:
            found = alerts_called_for(con, alerts, datetime.now(UTC))
        outbox = warehouse.outbox
        known = outbox.known_keys(a.dedupe_key for a in found)
        # Recorded before anything is sent: from here on the key exists exactly once.
        new = outbox.enqueue([a for a in found if a.dedupe_key not in known], time.time())
        candidates = len(found)
        for key in new:
            context.log.info(f"new alert {key}")
    return dg.MaterializeResult(
        metadata={
            "published_version": version or "",
            "alerts_called_for": candidates,
            "new_alerts": len(new),
            "new_keys": dg.MetadataValue.json(new),
        }
    )


class FailedRun(dg.Config):
    """A failed pipeline run to alert on (run_failure_sensor's request)."""

    run_id: str
    job_name: str
    error: str
    failed_at: float  # epoch seconds


class DeliveryConfig(dg.Config):
    failed_runs: list[FailedRun] = []


@dg.asset(
    key="alert_outbox",
    deps=[budget_alerts],
    group_name="alerts",
    kinds={"sqlite", "parquet"},
    description=(
        "The durable alert outbox ($AGENTOPS_DATA_DIR/outbox/outbox.sqlite3) after one "
        "delivery pass: every due alert sent (one message each, or a digest) and marked by the "
        "webhook's answer, the events of sent alerts written into the landing folder, and the "
        "Parquet snapshot (outbox/alerts/outbox.parquet) that is dbt's `outbox.alerts` source."
    ),
)
def alert_outbox(
    context: dg.AssetExecutionContext,
    config: DeliveryConfig,
    warehouse: WarehouseResource,
    slack: SlackResource,
    webhook: WebhookResource,
    alerts: AlertsResource,
) -> dg.MaterializeResult:
    outbox = warehouse.outbox
    failed = [
        run_failure_alert(
            r.run_id,
            r.job_name,
            r.error,
            datetime.fromtimestamp(r.failed_at, UTC),
            alerts.run_failure_destination,
        )
        for r in config.failed_runs
    ]
    for key in outbox.enqueue(failed, time.time()):
        context.log.info(f"new alert {key}")
    router = Router(slack.webhook_url, webhook.url, alerts, parse_routes(slack.routes))
    report = deliver_pending(
        outbox,
        router,
        claim_id=context.run.run_id,
        landing_dir=warehouse.landing_dir,
        snapshot_path=warehouse.outbox_snapshot_path,
    )
    context.log.info(
        f"{len(report.sent)} alert(s) sent in {report.messages} message(s) "
        f"({report.digests} digest(s)); {len(report.retrying)} to retry; "
        f"{len(report.failed)} failed; {len(report.not_sent)} recorded, not sent"
    )
    for key, reason in report.not_sent.items():
        context.log.info(f"not sent: {key}: {reason}")
    for key, note in report.fallbacks.items():
        context.log.warning(f"{key}: {note}")
    for key, error in report.retrying.items():
        context.log.warning(f"will retry {key}: {error}")
    for key, error in report.failed.items():
        context.log.error(f"FAILED {key}: {error}")
    metadata = {
        "sent": len(report.sent),
        "messages": report.messages,
        "digests": report.digests,
        "retrying": dg.MetadataValue.json(report.retrying),
        "failed": dg.MetadataValue.json(report.failed),
        "not_sent": dg.MetadataValue.json(report.not_sent),
        "no_route": dg.MetadataValue.json(report.fallbacks),
        "events_written": report.events_written,
        "snapshot_rows": report.snapshot_rows,
    }
    if report.failed:
        # The outbox and its snapshot did change: record that (dbt picks the snapshot up),
        # then fail the run so it shows red. A webhook refusing messages is a configuration
        # error someone must fix; those alerts are `failed` and will not be retried.
        context.log_event(dg.AssetMaterialization(asset_key="alert_outbox", metadata=metadata))
        raise dg.Failure(
            description=(
                f"{len(report.failed)} alert(s) refused by their webhook (not retried): "
                + "; ".join(sorted(set(report.failed.values())))
            ),
            metadata={"failed": dg.MetadataValue.json(report.failed)},
        )
    return dg.MaterializeResult(metadata=metadata)

"""Jobs: `warehouse_job` (load -> dbt build -> publish) and `alerts_job` (deliver alerts)."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import dagster as dg

from orchestration.alerts.delivery import Router, deliver_pending
from orchestration.assets import (
    budgets_reference,
    lake_events,
    published_warehouse,
    warehouse_dbt_models,
)
from orchestration.resources import SlackResource, WarehouseResource, WebhookResource
from orchestration.settings import Settings

warehouse_job = dg.define_asset_job(
    name="warehouse_job",
    selection=dg.AssetSelection.assets(
        lake_events, budgets_reference, warehouse_dbt_models, published_warehouse
    ),
    description=(
        "Load new landing files and WAL leftovers into the lake, refresh the budgets from the "
        "budgets file, run `dbt build`, publish the warehouse. Started by "
        "warehouse_job_schedule and landing_files_sensor."
    ),
    # The steps run one after the other anyway; in one process they skip two Python
    # start-ups and definition loads (tens of seconds on a small machine) on a freshness path.
    executor_def=dg.in_process_executor,
)


@dg.op(
    description=(
        "One delivery pass over the alert outbox: send every due alert (one message each, or "
        "a digest), mark it by the webhook's answer, write the events of sent alerts into the "
        "landing folder and the outbox snapshot for dbt."
    )
)
def deliver_alerts(
    context: dg.OpExecutionContext,
    warehouse: WarehouseResource,
    slack: SlackResource,
    webhook: WebhookResource,
) -> None:
    router = Router(slack.webhook_url(), webhook.url(), Settings.from_env())
    report = deliver_pending(
        warehouse.outbox,
        router,
        claim_id=context.run_id,
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
        "events_written": report.events_written,
        "snapshot_rows": report.snapshot_rows,
    }
    context.log_event(dg.AssetMaterialization(asset_key="alert_outbox", metadata=metadata))
    if report.failed:
        # A webhook refusing messages is a configuration error someone must fix: fail the run
        # so it shows red in Dagster. Those alerts are `failed` and will not be retried.
        raise dg.Failure(
            description=(
                f"{len(report.failed)} alert(s) refused by their webhook (not retried): "
                + "; ".join(sorted(set(report.failed.values())))
            ),
            metadata={"failed": dg.MetadataValue.json(report.failed)},
        )


@dg.job(
    executor_def=dg.in_process_executor,
    description=(
        "Deliver pending alerts from the outbox. Requested by budget_threshold_sensor when a "
        "publish brings new alerts or earlier ones are due for a retry."
    ),
)
def alerts_job() -> None:
    deliver_alerts()

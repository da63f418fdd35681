"""Resources: `dbt`, `warehouse` (the data directory), `published` (read-only DuckDB on the
published warehouse), `slack` and `webhook` (where alerts go) and `alerts` (how they go).

They are the orchestration layer's one configuration: `build_resources()` reads each setting
from its environment variable once, when the definitions load, and nothing else reads the
environment. The webhook URLs are secrets: they stay `dg.EnvVar`s, which Dagster resolves when
a run or tick starts and shows in its UI by name only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ingestion.settings import (
    BUDGET_CLOSE_GRACE_ENV,
    DEFAULT_BUDGET_CLOSE_GRACE_HOURS,
    budget_close_grace_hours,
)
from ingestion.settings import data_dir as default_data_dir
from orchestration.alerts.delivery import ROUTES_ENV, SLACK_URL_ENV, WEBHOOK_URL_ENV
from orchestration.alerts.outbox import Outbox
from orchestration.project import dbt_executable, dbt_project
from orchestration.warehouse.build import build_db_path, build_lock, publish
from orchestration.warehouse.spark import publish_spark, resolve_engine


class WarehouseResource(dg.ConfigurableResource):
    """The data directory: landing folder, WAL, lake, build and published warehouse, outbox."""

    data_dir: str = Field(default="", description="Empty: ./data, created when first used.")
    landing_grace_seconds: float = Field(
        default=60.0,
        description="A landing file whose last line has no newline counts as complete after "
        "this long unchanged.",
    )
    engine: str = Field(
        default="",
        description="Where dbt builds: duckdb or spark. Empty: $AGENTOPS_ENGINE, else duckdb.",
    )

    def engine_name(self) -> str:
        return resolve_engine(self.engine or None)

    def base(self) -> Path:
        if self.data_dir:
            path = Path(self.data_dir).resolve()
            path.mkdir(parents=True, exist_ok=True)
            return path
        return default_data_dir()

    @property
    def landing_dir(self) -> Path:
        return self.base() / "landing"

    @property
    def wal_dir(self) -> Path:
        return self.base() / "wal"

    @property
    def published_path(self) -> Path:
        return self.base() / "warehouse.duckdb"

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.base() / "outbox" / "outbox.sqlite3")

    @property
    def outbox_snapshot_path(self) -> Path:
        # Read by dbt's `outbox.alerts` source: $AGENTOPS_DATA_DIR/outbox/alerts/*.parquet
        return self.base() / "outbox" / "alerts" / "outbox.parquet"

    @property
    def dbt_target_path(self) -> Path:
        """dbt's artifacts for builds of this data directory (not the ones of `agentops-wh
        build`, which keeps its own next to it)."""
        return self.base() / "build" / "dagster-target"

    def export_env(self) -> None:
        """Point dbt's profile at this data directory, as an absolute path.

        dbt runs from dbt_project/, where a relative AGENTOPS_DATA_DIR would mean another
        folder than it means to this process.
        """
        os.environ["AGENTOPS_DATA_DIR"] = str(self.base())

    @contextlib.contextmanager
    def build_lock(self) -> Iterator[None]:
        """The lock `agentops-wh build` takes: one writer of the build database at a time."""
        (self.base() / "build").mkdir(parents=True, exist_ok=True)
        with build_lock(self.base()):
            yield

    def publish(self) -> Path:
        """Publish the build database as the read-only warehouse (checkpoint, copy, rename);
        on Spark, a copy of the tables Spark built (orchestration/warehouse/spark.py)."""
        with self.build_lock():
            if self.engine_name() == "spark":
                manifest = self.dbt_target_path / "manifest.json"
                publish_spark(self.base(), manifest, self.published_path)
            else:
                publish(build_db_path(self.base()), self.published_path)
        return self.published_path

    def published_version(self) -> str | None:
        """Identifies one published warehouse: each publish renames a new file into place."""
        try:
            st = self.published_path.stat()
        except FileNotFoundError:
            return None
        return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"


def published_reader(database: Path) -> DuckDBResource:
    """dagster-duckdb's resource on the published warehouse, read-only.

    It connects read-write unless told otherwise, and a read-write connection would lock the
    file against every other reader; `access_mode` makes it a reader like the dashboard.
    """
    return DuckDBResource(database=str(database), connection_config={"access_mode": "READ_ONLY"})


class SlackResource(dg.ConfigurableResource):
    """Where alerts go: the routes of destinations, and the default Slack incoming webhook
    (empty destinations, and destinations without a route)."""

    webhook_url: str | None = Field(default=None, description="None: alerts are recorded only.")
    routes: str | None = Field(
        default=None,
        description="$AGENTOPS_ALERT_ROUTES: a JSON object {destination: webhook URL}, or the "
        "path of a file holding one.",
    )


class WebhookResource(dg.ConfigurableResource):
    """The generic JSON webhook that `webhook` destinations post to."""

    url: str | None = Field(default=None, description="None: alerts are recorded only.")


class AlertsResource(dg.ConfigurableResource):
    """Which alerts to raise and how to deliver them."""

    budgets_url: str = Field(
        default="http://localhost:8501/budgets",
        description="Where a budget alert links to; `?budget_id=...` is appended.",
    )
    reliability_failure_rate: float = Field(
        default=0.25, description="Failed share of a workflow's runs ended in the last hour."
    )
    reliability_min_runs: int = Field(default=10, description="...of at least this many runs.")
    reliability_destination: str = "slack:#agentops-alerts"
    run_failure_destination: str = Field(
        default="slack:#agentops-alerts", description="Where a failed pipeline run is alerted."
    )
    forecast_min_elapsed: float = Field(
        default=0.1,
        description="No forecast alert before this share of the period has elapsed (a straight "
        "line through the first minutes of a day says little).",
    )
    budget_close_grace_hours: float = Field(
        default=float(DEFAULT_BUDGET_CLOSE_GRACE_HOURS),
        description="A budget period closes this long after its end; crossings found later "
        "are recorded, not sent (one 'period closed at N%' summary). dbt's budget_status "
        "reads the same variable for closes_at.",
    )
    min_message_interval_seconds: float = Field(
        default=1.0, description="Storm control: at least this long between two messages."
    )
    digest_min_alerts: int = Field(
        default=3, description="A pass with this many alerts for one webhook sends one digest."
    )
    claim_lease_seconds: float = Field(
        default=300.0,
        description="How long a claimed alert is reserved for the run sending it; a run that "
        "dies mid-send releases it after this.",
    )
    retry_backoff_seconds: float = Field(
        default=30.0, description="Back-off before retrying a transient failure (doubling)."
    )
    max_retry_after_seconds: float = Field(
        default=30.0,
        description="The longest Retry-After waited out within a run; a longer one is retried "
        "by a later run.",
    )
    http_timeout_seconds: int = 10


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


# Setting -> environment variable, for the settings that are not secrets.
ALERTS_ENV = {
    "budgets_url": "AGENTOPS_BUDGETS_URL",
    "reliability_failure_rate": "AGENTOPS_RELIABILITY_FAILURE_RATE",
    "reliability_min_runs": "AGENTOPS_RELIABILITY_MIN_RUNS",
    "reliability_destination": "AGENTOPS_RELIABILITY_DESTINATION",
    "run_failure_destination": "AGENTOPS_RUN_FAILURE_DESTINATION",
    "forecast_min_elapsed": "AGENTOPS_FORECAST_MIN_ELAPSED",
    "budget_close_grace_hours": BUDGET_CLOSE_GRACE_ENV,
    "min_message_interval_seconds": "AGENTOPS_ALERT_MIN_INTERVAL_SECONDS",
    "digest_min_alerts": "AGENTOPS_ALERT_DIGEST_MIN",
    "claim_lease_seconds": "AGENTOPS_ALERT_LEASE_SECONDS",
    "retry_backoff_seconds": "AGENTOPS_ALERT_RETRY_BACKOFF_SECONDS",
    "max_retry_after_seconds": "AGENTOPS_ALERT_MAX_RETRY_AFTER_SECONDS",
    "http_timeout_seconds": "AGENTOPS_ALERT_HTTP_TIMEOUT_SECONDS",
}
WAREHOUSE_ENV = {
    "data_dir": "AGENTOPS_DATA_DIR",
    "landing_grace_seconds": "AGENTOPS_LANDING_GRACE_SECONDS",
}


def _from_env(
    resource: type[dg.ConfigurableResource], names: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, Any]:
    """The settings of `resource` whose variable is set, as the field's type; a value that is
    not one is refused with the variable's name."""
    out: dict[str, Any] = {}
    for field, var in names.items():
        raw = env.get(var, "").strip()
        if not raw:
            continue
        kind = resource.model_fields[field].annotation
        try:
            out[field] = kind(raw) if kind in (int, float) else raw
        except ValueError:
            raise ValueError(
                f"{var}={raw!r} is not a{'n integer' if kind is int else ' number'}; "
                f"unset it or give e.g. {resource.model_fields[field].default}"
            ) from None
    return out


def _secret(var: str, env: Mapping[str, str]) -> dg.EnvVar | None:
    return dg.EnvVar(var) if env.get(var) else None


def build_resources(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The code location's resources, configured from the environment (default: this
    process's) as `make dagster` documents it; every setting left unset keeps its default."""
    env = os.environ if env is None else env
    budget_close_grace_hours(env)  # refuses a bad value with the variable's name
    warehouse = WarehouseResource(**_from_env(WarehouseResource, WAREHOUSE_ENV, env))
    published = Path(warehouse.data_dir or "data").resolve() / "warehouse.duckdb"
    return {
        "dbt": dbt_resource(),
        "warehouse": warehouse,
        "published": published_reader(published),
        "slack": SlackResource(
            webhook_url=_secret(SLACK_URL_ENV, env), routes=_secret(ROUTES_ENV, env)
        ),
        "webhook": WebhookResource(url=_secret(WEBHOOK_URL_ENV, env)),
        "alerts": AlertsResource(**_from_env(AlertsResource, ALERTS_ENV, env)),
    }

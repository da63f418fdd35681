"""Resources: `dbt` (the dbt CLI), `warehouse` (the data directory), `slack` and `webhook`.

Paths and URLs are resolved when used, not when the definitions load, so one code location
serves whatever `$AGENTOPS_DATA_DIR` the process runs with, and a secret webhook URL is read
from its environment variable at send time and never shown in the Dagster UI.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from pydantic import Field

from ingestion.settings import data_dir as default_data_dir
from ingestion.warehouse import build_db_path, build_lock, publish
from orchestration.alerts.delivery import SLACK_URL_ENV, WEBHOOK_URL_ENV
from orchestration.alerts.outbox import Outbox
from orchestration.engine_spark import publish_spark, resolve_engine
from orchestration.project import dbt_executable, dbt_project


class WarehouseResource(dg.ConfigurableResource):
    """The data directory: landing folder, WAL, lake, build and published warehouse, outbox."""

    data_dir: str = Field(
        default="", description="Empty: $AGENTOPS_DATA_DIR (default ./data), read when used."
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
        on Spark, a copy of the tables Spark built (orchestration/engine_spark.py)."""
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

    @contextlib.contextmanager
    def read_only(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the published warehouse, closed on exit."""
        con = duckdb.connect(str(self.published_path), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


class SlackResource(dg.ConfigurableResource):
    """The Slack incoming webhook that `slack:#channel` destinations post to."""

    webhook_url_env: str = SLACK_URL_ENV

    def webhook_url(self) -> str | None:
        return os.environ.get(self.webhook_url_env) or None


class WebhookResource(dg.ConfigurableResource):
    """The generic JSON webhook that `webhook` destinations post to."""

    url_env: str = WEBHOOK_URL_ENV

    def url(self) -> str | None:
        return os.environ.get(self.url_env) or None


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())

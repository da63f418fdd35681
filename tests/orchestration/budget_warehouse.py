"""A small published warehouse for alert tests: `marts.budget_status` (and `marts.fct_runs`).

Built with DuckDB in the column layout of dbt_project/models/marts/budget_status.sql, so the
sensor can be tested without a dbt build. Each `publish` replaces the file by rename, as
`agentops-wh build` does, so the sensor sees a new published version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

AS_OF = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # noon: half of a daily period has elapsed
DAY_START = datetime(2026, 11, 25, tzinfo=UTC)
# Budgets are computed late in the day by default: a spend under 87.5% of the limit then has
# its forecast under the limit too, so a test about thresholds sees no forecast alert.
LATE = DAY_START + timedelta(hours=21)

_DDL = """
create schema marts;
create table marts.budget_status (
    budget_period_id varchar, budget_id varchar, tenant_id varchar, period_kind varchar,
    scope varchar,
    scope_id varchar, period varchar, period_start timestamptz, period_end timestamptz,
    as_of timestamptz, limit_usd decimal(38, 24), spend_usd decimal(38, 24),
    unpriced_calls bigint, pct_used double, thresholds integer[],
    thresholds_crossed integer[], highest_threshold_crossed integer, is_over_limit boolean,
    elapsed_fraction double, forecast_usd decimal(38, 24), enforcement varchar,
    destination varchar, is_scope_seen boolean, is_forecast_over_limit boolean,
    alert_dedupe_key varchar, closes_at timestamptz, is_closed boolean
);
create table marts.fct_runs (
    run_id varchar, tenant_id varchar, workspace_id varchar, project_id varchar,
    agent_id varchar, workflow_id varchar, run_status varchar, is_ended boolean,
    started_at timestamptz, ended_at timestamptz
);
create table marts.agg_usage_hourly (
    hour_start timestamptz, tenant_id varchar, workspace_id varchar, project_id varchar,
    agent_id varchar, workflow_id varchar, cost_usd decimal(38, 24)
);
"""


@dataclass
class Budget:
    """One budget period row; percent, thresholds crossed and forecast derived as dbt does."""

    budget_id: str = "acme-daily"
    tenant_id: str = "acme"
    spend_usd: str = "0"
    limit_usd: str = "25"
    thresholds: tuple[int, ...] = (50, 80, 100)
    scope: str = "tenant"
    scope_id: str = "acme"
    period: str = "daily"
    period_kind: str = "current"
    period_start: datetime = DAY_START
    period_end: datetime = DAY_START + timedelta(days=1)
    as_of: datetime = LATE
    enforcement: str = "alert"
    destination: str = "slack:#acme-finance"
    close_grace: timedelta = timedelta(hours=1)

    def row(self) -> tuple:
        spend, limit = Decimal(self.spend_usd), Decimal(self.limit_usd)
        crossed = [t for t in self.thresholds if spend * 100 >= limit * t]
        span = (self.period_end - self.period_start).total_seconds()
        elapsed = min(1.0, max(1.0, (self.as_of - self.period_start).total_seconds()) / span)
        forecast = spend if elapsed >= 1 else spend * Decimal(str(round(1 / elapsed, 6)))
        return (
            f"{self.budget_id}@{self.period_kind}", self.budget_id, self.tenant_id,
            self.period_kind,
            self.scope, self.scope_id, self.period, self.period_start, self.period_end,
            self.as_of, limit, spend, 0, float(100 * spend / limit) if limit else None,
            list(self.thresholds), crossed, max(crossed) if crossed else None, spend >= limit,
            elapsed, forecast, self.enforcement, self.destination, True, forecast > limit, None,
            self.period_end + self.close_grace, self.as_of >= self.period_end + self.close_grace,
        )  # fmt: skip


@dataclass
class Run:
    run_id: str
    workflow_id: str = "support-ticket"
    run_status: str = "succeeded"
    ended_at: datetime = AS_OF - timedelta(minutes=10)
    tenant_id: str = "acme"

    def row(self) -> tuple:
        return (
            self.run_id, self.tenant_id, "acme-prod", "acme-support", "triage-agent",
            self.workflow_id, self.run_status, True,
            self.ended_at - timedelta(minutes=1), self.ended_at,
        )  # fmt: skip


def publish(data_dir: Path, budgets: list[Budget], runs: list[Run] | None = None) -> Path:
    """Write the warehouse under a temporary name and rename it into place."""
    dest = data_dir / "warehouse.duckdb"
    tmp = data_dir / ".tmp-warehouse.duckdb"
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(_DDL)
        if budgets:
            marks = ",".join("?" * 27)
            con.executemany(
                f"insert into marts.budget_status values ({marks})", [b.row() for b in budgets]
            )
        if runs:
            con.executemany(
                "insert into marts.fct_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [r.row() for r in runs],
            )
        con.execute(
            "insert into marts.agg_usage_hourly values (?, 'acme', 'acme-prod', 'acme-support',"
            " 'triage-agent', 'support-ticket', 1)",
            [AS_OF - timedelta(hours=1)],
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, dest)
    return dest

"""Reading what the alerts need from the published warehouse (a read-only DuckDB connection),
and which alerts it calls for.

The query results become the plain rows of `rules.py`; resolving which workspace and project
a budget's scope belongs to within its tenant is a pure function over the usage dimensions,
tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import duckdb

from ingestion.http.budget_status import read_budget_status
from ingestion.settings import DEFAULT_BUDGET_CLOSE_GRACE_HOURS
from orchestration.alerts.rules import (
    ALL,
    Alert,
    BudgetPeriod,
    WorkflowHealth,
    forecast_alerts,
    reliability_alerts,
    threshold_alerts,
)

if TYPE_CHECKING:  # the resources import the alerts package
    from orchestration.resources import AlertsResource

Dims = tuple[str, str, str, str]  # tenant_id, workspace_id, project_id, agent_id

_BUDGET_COLUMNS = (
    "budget_id", "tenant_id", "scope", "scope_id", "period", "period_kind", "period_start",
    "period_end", "as_of", "limit_usd", "spend_usd", "pct_used", "thresholds_crossed",
    "forecast_usd", "elapsed_fraction", "enforcement", "destination",
)  # fmt: skip

_DIMS_SQL = """
select distinct tenant_id, workspace_id, project_id, agent_id
from marts.agg_usage_hourly
where hour_start >= ?
"""

# Failed runs come from fct_runs: agg_usage_hourly's `failures` counts every failed event
# (steps, model and tool calls too), not failed runs.
_HEALTH_SQL = """
select
    tenant_id,
    case when count(distinct workspace_id) = 1 then any_value(workspace_id) else '*' end,
    case when count(distinct project_id) = 1 then any_value(project_id) else '*' end,
    workflow_id,
    count(*) as ended_runs,
    count(*) filter (where run_status = 'failed') as failed_runs
from marts.fct_runs
where is_ended
    and workflow_id is not null
    and ended_at > ? and ended_at <= ?
group by tenant_id, workflow_id
order by tenant_id, workflow_id
"""


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def scope_tenant(
    tenant_id: str, scope: str, scope_id: str, dims: Iterable[Dims]
) -> tuple[str, str, str]:
    """Tenant, workspace and project a budget scope of `tenant_id` belongs to; '*' where the
    scope spans several (a tenant budget covers all its workspaces) or usage does not tell.
    Only the tenant's own usage counts: another tenant's project of the same name does not."""
    column = {"tenant": 0, "workspace": 1, "project": 2, "agent": 3}.get(scope)
    if column is None or scope == "tenant":
        return (tenant_id, ALL, ALL)
    matches = {d[:3] for d in dims if d[0] == tenant_id and d[column] == scope_id}
    workspaces = {m[1] for m in matches}
    projects = {m[2] for m in matches}
    if scope == "workspace":
        return (tenant_id, scope_id, ALL)
    workspace = workspaces.pop() if len(workspaces) == 1 else ALL
    if scope == "project":
        return (tenant_id, workspace, scope_id)
    project = projects.pop() if len(projects) == 1 else ALL
    return (tenant_id, workspace, project)


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns"
            " where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }


def read_budget_periods(
    con: duckdb.DuckDBPyConnection,
    close_grace: timedelta = timedelta(hours=DEFAULT_BUDGET_CLOSE_GRACE_HOURS),
) -> list[BudgetPeriod]:
    """Every row of marts.budget_status (current and previous periods of each budget).

    When a period closes is the warehouse's `closes_at`; a warehouse built before that column
    existed gets period_end + `close_grace`.
    """
    columns = _BUDGET_COLUMNS
    if "closes_at" in _columns(con, "marts", "budget_status"):
        columns = (*columns, "closes_at")
    rows = read_budget_status(con, columns) or []
    dims: list[Dims] = []
    if rows and _has_table(con, "marts", "agg_usage_hourly"):
        since = min(_utc(r["period_start"]) for r in rows)
        dims = [tuple(d) for d in con.execute(_DIMS_SQL, [since]).fetchall()]  # type: ignore[misc]
    out: list[BudgetPeriod] = []
    for r in rows:
        _, workspace_id, project_id = scope_tenant(r["tenant_id"], r["scope"], r["scope_id"], dims)
        out.append(
            BudgetPeriod(
                budget_id=r["budget_id"],
                tenant_id=r["tenant_id"],
                scope=r["scope"],
                scope_id=r["scope_id"],
                period=r["period"],
                period_kind=r["period_kind"],
                period_start=_utc(r["period_start"]),
                period_end=_utc(r["period_end"]),
                as_of=_utc(r["as_of"]),
                limit_usd=Decimal(r["limit_usd"]),
                spend_usd=Decimal(r["spend_usd"] or 0),
                pct_used=None if r["pct_used"] is None else float(r["pct_used"]),
                thresholds_crossed=tuple(float(t) for t in r["thresholds_crossed"] or ()),
                forecast_usd=None if r["forecast_usd"] is None else Decimal(r["forecast_usd"]),
                elapsed_fraction=float(r["elapsed_fraction"] or 0.0),
                enforcement=r["enforcement"],
                destination=r["destination"] or "",
                workspace_id=workspace_id,
                project_id=project_id,
                closes_at=_utc(r["closes_at"])
                if r.get("closes_at")
                else _utc(r["period_end"]) + close_grace,
            )
        )
    return out


def budgets_as_of(periods: list[BudgetPeriod], fallback: datetime) -> datetime:
    """The instant the published build computed budgets for (their `as_of`), else `fallback`."""
    return max((p.as_of for p in periods), default=fallback)


def read_workflow_health(con: duckdb.DuckDBPyConnection, as_of: datetime) -> list[WorkflowHealth]:
    """Per tenant and workflow: runs that ended in the hour up to `as_of`, and failed ones."""
    if not _has_table(con, "marts", "fct_runs"):
        return []
    rows = con.execute(_HEALTH_SQL, [as_of - timedelta(hours=1), as_of]).fetchall()
    return [
        WorkflowHealth(
            tenant_id=t,
            workspace_id=w,
            project_id=p,
            workflow_id=wf,
            ended_runs=int(n),
            failed_runs=int(f),
            as_of=as_of,
        )  # fmt: skip
        for t, w, p, wf, n, f in rows
    ]


def alerts_called_for(
    con: duckdb.DuckDBPyConnection, alerts: AlertsResource, now: datetime
) -> list[Alert]:
    """Every alert the published warehouse calls for, already known ones included."""
    periods = read_budget_periods(con, timedelta(hours=alerts.budget_close_grace_hours))
    health = read_workflow_health(con, budgets_as_of(periods, now))
    return [
        *threshold_alerts(periods, ()),
        *forecast_alerts(periods, (), alerts.forecast_min_elapsed),
        *reliability_alerts(
            health,
            (),
            failure_rate=alerts.reliability_failure_rate,
            min_runs=alerts.reliability_min_runs,
            destination=alerts.reliability_destination,
        ),
    ]

"""A tenant's monthly chargeback statement (`agentops-wh export statement`).

One CSV line per project, provider and model of the tenant's calls used in the UTC month:
the calls, the unpriced calls among them (not in any amount), the tokens and the ledger's
cost (empty when every call of the line is unpriced); then a `TOTAL` line. The amounts are
the ledger's (`fct_cost_ledger`, reprices included) for the calls of that month, so the total
equals the ledger's sum for the tenant and month exactly.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from orchestration.exports.focus import ExportError

COLUMNS = (
    "tenant_id",
    "month",
    "project_id",
    "provider",
    "model",
    "model_calls",
    "unpriced_calls",
    "total_tokens",
    "cost_usd",
)


@dataclass(frozen=True)
class Statement:
    path: Path
    lines: int
    total_usd: Decimal

    def summary(self) -> str:
        return f"wrote {self.lines} statement line(s) to {self.path}: {self.total_usd} USD"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of `YYYY-MM`, UTC."""
    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise ExportError(f"--month {month!r}: write the month as YYYY-MM, e.g. 2026-11")
    year, mon = int(month[:4]), int(month[5:])
    if not 1 <= mon <= 12:
        raise ExportError(f"--month {month!r}: the month must be 01 to 12")
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def export_statement(warehouse: Path, tenant: str, month: str, out: Path) -> Statement:
    start, end = month_bounds(month)
    if not warehouse.exists():
        raise ExportError(f"no published warehouse at {warehouse}; run `agentops-wh build` first")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """
            with ledger as (
                select tenant_id, model_call_id, sum(cost_usd) as cost_usd
                from marts.fct_cost_ledger
                where tenant_id = $tenant and occurred_at >= $start and occurred_at < $end
                group by all
            )
            select
                calls.project_id, calls.provider, calls.model,
                count(*) as model_calls,
                count(*) filter (where calls.price_status = 'unpriced') as unpriced_calls,
                sum(calls.total_tokens) as total_tokens,
                sum(ledger.cost_usd) as cost_usd
            from marts.fct_model_calls as calls
            left join ledger
                on ledger.tenant_id = calls.tenant_id
                and ledger.model_call_id = calls.model_call_id
            where calls.tenant_id = $tenant
                and calls.occurred_at >= $start and calls.occurred_at < $end
            group by all
            order by calls.project_id, calls.provider, calls.model
            """,
            {"tenant": tenant, "start": start, "end": end},
        ).fetchall()
        known = con.execute(
            "select count(*) from marts.fct_model_calls where tenant_id = ?", [tenant]
        ).fetchone()[0]
    finally:
        con.close()
    if not known:
        raise ExportError(f"--tenant {tenant!r}: the warehouse has no model call of that tenant")
    total = sum((r[6] for r in rows if r[6] is not None), Decimal(0))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for project, provider, model, calls, unpriced, tokens, cost in rows:
            # an all-unpriced line has no amount (empty), never 0
            amount = "" if cost is None else f"{cost:f}"
            writer.writerow(
                [tenant, month, project, provider, model, calls, unpriced, tokens, amount]
            )
        writer.writerow(
            [
                tenant,
                month,
                "TOTAL",
                "",
                "",
                sum(r[3] for r in rows),
                sum(r[4] for r in rows),
                sum(r[5] or 0 for r in rows),
                f"{total:f}",
            ]
        )
    return Statement(out, len(rows), total)

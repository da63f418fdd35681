"""The ledger as FOCUS 1.2 cost and usage rows (`agentops-wh export focus`).

FOCUS (the FinOps Open Cost and Usage Specification) is what FinOps tools read. One row per
UTC hour of use x tenant, workspace, project, agent, workflow, provider, model, ledger reason
and price book, per calendar month the ledger booked the entries in:

- `ChargePeriodStart/End` the hour of use; `BillingPeriodStart/End` the UTC calendar month of
  booking (`fct_cost_ledger.booked_at`), so a reprice lands in the month it was booked and
  never rewrites an earlier month;
- `ChargeCategory` Usage; `ChargeClass` "Correction" for a reprice booked in a later month
  than the use (a correction to a previously invoiced billing period, as the spec defines
  it), NULL otherwise (a reprice within the month of use is folded into that month);
- `BilledCost` = `EffectiveCost` = `ContractedCost` = the ledger's cost (the price the
  ledger computed, negotiated rates included); `ListCost` the same, as the ledger keeps no
  separate list price;
- `ConsumedQuantity` / `PricingQuantity` the calls' total tokens (`Tokens`) on usage rows,
  0 on a reprice of the same month, NULL on a correction;
- our dimensions as `x_` columns, and `Tags` as a JSON object of them.

Unpriced calls have no cost to bill: they are left out, and `<out>.unpriced.json` beside the
export lists how many there are per provider and model. The rows' `BilledCost` sums to the
ledger's `cost_usd` for the same window of use, exactly (DECIMAL(38, 24) throughout).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb

# FOCUS 1.2: column -> (type, nullable) for the columns this export writes, the spec's
# mandatory ones first. Types: Decimal, String, Date/Time, JSON.
SPEC_COLUMNS: dict[str, tuple[str, bool]] = {
    "BilledCost": ("Decimal", False),
    "BillingAccountId": ("String", False),
    "BillingAccountName": ("String", True),
    "BillingCurrency": ("String", False),
    "BillingPeriodEnd": ("Date/Time", False),
    "BillingPeriodStart": ("Date/Time", False),
    "ChargeCategory": ("String", False),
    "ChargeClass": ("String", True),
    "ChargeDescription": ("String", True),
    "ChargePeriodEnd": ("Date/Time", False),
    "ChargePeriodStart": ("Date/Time", False),
    "ContractedCost": ("Decimal", False),
    "EffectiveCost": ("Decimal", False),
    "InvoiceIssuerName": ("String", False),
    "ListCost": ("Decimal", False),
    "PricingQuantity": ("Decimal", True),
    "PricingUnit": ("String", True),
    "ProviderName": ("String", False),
    "PublisherName": ("String", False),
    "ServiceCategory": ("String", False),
    "ServiceName": ("String", False),
    "ChargeFrequency": ("String", False),
    "ServiceSubcategory": ("String", False),
    "ConsumedQuantity": ("Decimal", True),
    "ConsumedUnit": ("String", True),
    "SkuId": ("String", True),
    "SkuPriceId": ("String", True),
    "SubAccountId": ("String", True),
    "SubAccountName": ("String", True),
    "Tags": ("JSON", True),
}
EXTRA_COLUMNS = (
    "x_TenantId",
    "x_WorkspaceId",
    "x_ProjectId",
    "x_AgentId",
    "x_WorkflowId",
    "x_Model",
    "x_LedgerReason",
    "x_PriceBookVersion",
    "x_ModelCalls",
)

_ROWS = """
with entries as (
    select
        ledger.*,
        date_trunc('hour', timezone('UTC', ledger.occurred_at)) as use_hour,
        date_trunc('month', timezone('UTC', ledger.booked_at)) as booked_month,
        date_trunc('month', timezone('UTC', ledger.occurred_at)) as use_month,
        calls.total_tokens
    from marts.fct_cost_ledger as ledger
    left join marts.fct_model_calls as calls
        on calls.tenant_id = ledger.tenant_id and calls.model_call_id = ledger.model_call_id
    where ledger.reason <> 'unpriced' and {window}
),
grouped as (
    select
        use_hour, booked_month, use_month, tenant_id, workspace_id, project_id, agent_id,
        workflow_id, provider, model, reason, price_book_version,
        sum(cost_usd) as cost_usd,
        count(distinct model_call_id) as model_calls,
        sum(total_tokens) as total_tokens
    from entries
    group by all
)
select
    cost_usd as BilledCost,
    tenant_id as BillingAccountId,
    tenant_id as BillingAccountName,
    'USD' as BillingCurrency,
    timezone('UTC', booked_month + interval 1 month) as BillingPeriodEnd,
    timezone('UTC', booked_month) as BillingPeriodStart,
    'Usage' as ChargeCategory,
    case when reason = 'reprice' and booked_month > use_month then 'Correction' end
        as ChargeClass,
    provider || ' ' || model || ' model calls'
        || case when reason = 'reprice' then ' (reprice)' else '' end as ChargeDescription,
    timezone('UTC', use_hour + interval 1 hour) as ChargePeriodEnd,
    timezone('UTC', use_hour) as ChargePeriodStart,
    cost_usd as ContractedCost,
    cost_usd as EffectiveCost,
    provider as InvoiceIssuerName,
    cost_usd as ListCost,
    case
        when reason = 'usage' then cast(total_tokens as decimal(38, 0))
        when booked_month > use_month then null
        else cast(0 as decimal(38, 0))
    end as PricingQuantity,
    'Tokens' as PricingUnit,
    provider as ProviderName,
    provider as PublisherName,
    'AI and Machine Learning' as ServiceCategory,
    provider || ' model API' as ServiceName,
    'Usage-Based' as ChargeFrequency,
    'Generative AI' as ServiceSubcategory,
    case
        when reason = 'usage' then cast(total_tokens as decimal(38, 0))
        when booked_month > use_month then null
        else cast(0 as decimal(38, 0))
    end as ConsumedQuantity,
    'Tokens' as ConsumedUnit,
    provider || '/' || model as SkuId,
    provider || '/' || model || '@' || price_book_version as SkuPriceId,
    workspace_id as SubAccountId,
    workspace_id as SubAccountName,
    to_json({{
        'tenant': tenant_id, 'workspace': workspace_id, 'project': project_id,
        'agent': agent_id, 'workflow': workflow_id
    }})::varchar as Tags,
    tenant_id as x_TenantId,
    workspace_id as x_WorkspaceId,
    project_id as x_ProjectId,
    agent_id as x_AgentId,
    workflow_id as x_WorkflowId,
    model as x_Model,
    reason as x_LedgerReason,
    price_book_version as x_PriceBookVersion,
    model_calls as x_ModelCalls
from grouped
order by ChargePeriodStart, BillingPeriodStart, x_TenantId, x_WorkspaceId, x_ProjectId,
    x_AgentId, x_WorkflowId nulls first, ProviderName, x_Model, x_LedgerReason,
    x_PriceBookVersion
"""


class ExportError(ValueError):
    """The export cannot be written as asked; the message says what to do."""


@dataclass(frozen=True)
class FocusExport:
    path: Path
    rows: int
    billed_usd: Decimal
    ledger_usd: Decimal
    unpriced_calls: int
    unpriced_path: Path

    def summary(self) -> str:
        return (
            f"wrote {self.rows} FOCUS rows to {self.path}: BilledCost {self.billed_usd} USD "
            f"(the ledger's {self.ledger_usd} for the same window); {self.unpriced_calls} "
            f"unpriced call(s) left out, listed in {self.unpriced_path}"
        )


def _window(since: datetime | None, until: datetime | None, column: str) -> tuple[str, list]:
    clauses, params = ["true"], []
    if since is not None:
        clauses.append(f"{column} >= ?")
        params.append(since)
    if until is not None:
        clauses.append(f"{column} < ?")
        params.append(until)
    return " and ".join(clauses), params


def export_focus(
    warehouse: Path, out: Path, since: datetime | None = None, until: datetime | None = None
) -> FocusExport:
    """Write the FOCUS rows of the calls used in [since, until) to `out` (.parquet or .csv)."""
    if out.suffix not in (".parquet", ".csv"):
        raise ExportError(f"--out {out}: name a .parquet or a .csv file")
    if not warehouse.exists():
        raise ExportError(f"no published warehouse at {warehouse}; run `agentops-wh build` first")
    window, params = _window(since, until, "ledger.occurred_at")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        query = _ROWS.format(window=window)
        rows = con.execute(f"select count(*), sum(BilledCost) from ({query})", params).fetchone()
        ledger = con.execute(
            f"select coalesce(sum(cost_usd), 0) from marts.fct_cost_ledger as ledger "
            f"where {window}",
            params,
        ).fetchone()[0]
        out.parent.mkdir(parents=True, exist_ok=True)
        target = str(out).replace("'", "''")
        if out.suffix == ".parquet":
            con.execute(f"copy ({query}) to '{target}' (format parquet, compression zstd)", params)
        else:
            con.execute(
                f"copy ({query}) to '{target}' "
                "(format csv, header, timestampformat '%Y-%m-%dT%H:%M:%SZ')",
                params,
            )
        calls_window, calls_params = _window(since, until, "occurred_at")
        unpriced = con.execute(
            f"""
            select provider, model, count(*) as model_calls
            from marts.fct_model_calls
            where price_status = 'unpriced' and {calls_window}
            group by all order by model_calls desc, provider, model
            """,
            calls_params,
        ).fetchall()
    finally:
        con.close()
    unpriced_path = out.with_name(out.name + ".unpriced.json")
    total = sum(n for _, _, n in unpriced)
    unpriced_path.write_text(
        json.dumps(
            {
                "unpriced_calls": total,
                "note": "calls without a price have no cost to bill and are not in the export",
                "by_model": [{"provider": p, "model": m, "model_calls": n} for p, m, n in unpriced],
            },
            indent=2,
        )
        + "\n"
    )
    return FocusExport(out, rows[0], rows[1] or Decimal(0), ledger, total, unpriced_path)

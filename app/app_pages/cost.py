"""Cost: spend by any dimension and over time, tokens by kind, unpriced usage, the price book
in use, and the ledger's entries with their reasons (so a reprice shows)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, ui
from app.queries import connection as db
from app.queries import cost as q
from app.queries import headline

DIMENSION_LABELS = {
    "tenant": "Tenant",
    "workspace": "Workspace",
    "project": "Project",
    "agent": "Agent",
    "workflow": "Workflow",
    "provider": "Provider",
    "model": "Model",
}
TOP_SERIES = 8


def kpi_tiles(wh: db.Warehouse, f) -> dict:
    k = headline.kpis(wh, f)
    versions = q.price_book_versions(wh, f)
    cols = st.columns(4)
    cols[0].metric(
        "Spend",
        ui.usd(k["spend_usd"]),
        border=True,
        help="Sum of the priced model calls' ledger cost, by call time.",
    )
    cols[1].metric("Priced calls", ui.integer(k["model_calls"] - k["unpriced_calls"]), border=True)
    cols[2].metric(
        "Unpriced calls",
        ui.integer(k["unpriced_calls"]),
        border=True,
        help="Calls whose model has no price: booked with a NULL cost, never 0.",
    )
    priced = k["model_calls"] - k["unpriced_calls"]
    cols[3].metric(
        "Average per priced call",
        ui.unit_usd(k["spend_usd"] / priced) if priced else "n/a",
        border=True,
    )
    if versions.empty:
        st.caption("No model call in this window, so no price book in use.")
    elif len(versions) == 1:
        st.caption(f"Priced with price book `{versions.price_book_version.iloc[0]}`.")
    else:
        st.warning(
            "Calls in this window are priced with more than one price book version: "
            + ", ".join(f"`{v}` ({n:,} calls)" for v, n in versions.itertuples(index=False))
        )
    return k  # fmt: skip


def spend_breakdown(wh: db.Warehouse, f, grain: str) -> None:
    st.subheader("Spend by")
    dimension = (
        st.segmented_control(
            "Group spend by",
            list(DIMENSION_LABELS),
            default="provider",
            format_func=DIMENSION_LABELS.get,
            key="cost_dimension",
            label_visibility="collapsed",
        )
        or "provider"
    )
    by = q.spend_by(wh, f, dimension)
    palette = charts.PROVIDER_COLOURS if dimension == "provider" else {}
    left, right = st.columns([2, 3])
    with left:
        ui.table(
            by,
            "spend_by",
            config={
                "spend_usd": ui.money_column("spend"),
                "model_calls": "calls",
                "unpriced_calls": "unpriced calls",
                "total_tokens": "tokens",
            },
        )
    with right:
        series = q.spend_series_by(wh, f, dimension, grain)
        if not series.empty:
            # Top categories by spend, the rest as "other": a legend stays readable.
            top = list(by[dimension].head(TOP_SERIES))
            series = series.assign(
                **{dimension: series[dimension].where(series[dimension].isin(top), "other")}
            )
            series["spend_usd"] = series["spend_usd"].astype(float)
            series = series.groupby(["bucket", dimension], as_index=False)["spend_usd"].sum()
            ui.chart(
                st,
                charts.stacked_bars(
                    series,
                    "spend_usd",
                    dimension,
                    palette,
                    title=f"Spend per {grain} by {dimension}",
                    value_title="USD",
                    money=True,
                    grain=grain,
                ),
            )


def tokens(wh: db.Warehouse, f, grain: str) -> None:
    st.subheader("Tokens by kind")
    series = q.token_series(wh, f, grain)
    totals = series.drop(columns="bucket").sum()
    table = pd.DataFrame(
        [
            ("input (incl. cache reads and writes)", int(totals.get("input_tokens", 0))),
            ("cache read", int(totals.get("cached_tokens", 0))),
            ("cache write", int(totals.get("cache_write_tokens", 0))),
            ("output (incl. reasoning)", int(totals.get("output_tokens", 0))),
            ("reasoning", int(totals.get("reasoning_tokens", 0))),
            ("total (input + output)", int(totals.get("total_tokens", 0))),
        ],
        columns=["kind", "tokens"],
    )
    left, right = st.columns([2, 3])
    with left:
        ui.table(table, "tokens_by_kind")
    if series.empty:
        return
    # Disjoint kinds for the stack: input and output as reported include the others.
    parts = pd.DataFrame(
        {
            "bucket": series.bucket,
            "uncached input": series.input_tokens
            - series.cached_tokens
            - series.cache_write_tokens,
            "cache read": series.cached_tokens,
            "cache write": series.cache_write_tokens,
            "visible output": series.output_tokens - series.reasoning_tokens,
            "reasoning": series.reasoning_tokens,
        }
    ).melt(id_vars="bucket", var_name="kind", value_name="tokens")
    ui.chart(
        right,
        charts.stacked_bars(
            parts,
            "tokens",
            "kind",
            charts.TOKEN_KIND_COLOURS,
            title=f"Tokens per {grain} by kind",
            value_title="tokens",
            grain=grain,
        ),
    )


def incomplete_overrides(wh: db.Warehouse) -> None:
    rows = q.incomplete_overrides(wh)
    if rows.empty:
        return
    st.warning(
        "Some negotiated rates in `dbt_project/seeds/price_overrides.csv` leave a token price "
        "out for a model genai-prices does not know, so there is nothing to inherit: those "
        "tokens cost nothing in the calls they price. Add the missing keys."
    )
    ui.table(
        rows,
        "incomplete_overrides",
        config={"valid_from": "valid from (UTC date)", "missing_price_key": "missing price"},
    )


def unpriced(wh: db.Warehouse, f) -> None:
    st.subheader("Unpriced usage")
    incomplete_overrides(wh)
    rows = q.unpriced_usage(wh, f)
    if rows.empty:
        st.caption("Every model call in this window has a price.")
        return
    st.caption(
        "These calls have no price in the price book: their cost is NULL (shown as unpriced), "
        "never 0, and they are missing from every spend figure. Add the negotiated rate to "
        "`dbt_project/seeds/price_overrides.csv` and run `agentops-wh build` to price them."
    )
    ui.table(
        rows,
        "unpriced_usage",
        config={
            "first_seen_at": ui.time_column("first seen (UTC)"),
            "last_seen_at": ui.time_column("last seen (UTC)"),
        },
    )


def reconciliation(wh: db.Warehouse, f) -> None:
    st.subheader("Reconciliation with provider statements")
    rows = q.reconciliation(wh, f)
    if rows.empty:
        st.caption("No provider-day in this window.")
        return
    counts = rows.status.value_counts()
    st.caption(
        "Per provider and UTC day, all tenants (a statement bills the whole organisation): "
        "the ledger beside the provider's invoice (`agentops-wh reconcile import FILE`) and "
        "the producers' own reported cost. Days that do not match come first. "
        + ", ".join(f"{n:,} {s}" for s, n in counts.items())
    )
    ui.table(
        rows,
        "reconciliation",
        config={
            "usage_date": "day (UTC)",
            "ledger_usd": ui.money_column("ledger", 6),
            "invoiced_usd": ui.money_column("invoiced", 6),
            "diff_usd": ui.money_column("invoiced - ledger", 6),
            "diff_pct": "diff %",
            "reported_usd": ui.money_column("reported by producers", 6),
            "reported_ledger_usd": ui.money_column("ledger of those calls", 6),
            "model_calls": "calls",
            "unpriced_calls": "unpriced calls",
        },
    )


def ledger(wh: db.Warehouse, f) -> None:
    st.subheader("Cost ledger")
    by_build, entries = q.ledger(wh, f)
    st.caption(
        "Append-only: each build books new calls ('usage', or 'unpriced' with a NULL cost) and, "
        "when the price book changes, the difference for calls already booked ('reprice'); a "
        "call that loses its price is reversed and booked 'unpriced' again."
    )
    ui.table(
        by_build,
        "ledger_by_build",
        config={
            "booked_at": ui.time_column("booked (UTC)"),
            "cost_usd": ui.unit_cost_column("cost"),
        },
    )
    with st.expander(f"Latest {len(entries)} ledger entries"):
        ui.table(
            entries,
            "ledger_entries",
            config={
                "booked_at": ui.time_column("booked (UTC)"),
                "occurred_at": ui.time_column("call at (UTC)"),
                "cost_usd": ui.unit_cost_column("cost"),
            },
        )


def body() -> None:
    wh, f = ui.current()
    ui.header("Cost", f, wh)
    if not ui.ready(wh):
        return
    with ui.guard():
        k = kpi_tiles(wh, f)
        if not k["model_calls"]:
            ui.nothing_in_window("model calls", f)
            return
        summary = headline.summary(wh)
        grain = f.grain((summary.get("first_event_at"), summary.get("latest_event_at")))
        spend_breakdown(wh, f, grain)
        tokens(wh, f, grain)
        unpriced(wh, f)
        reconciliation(wh, f)
        ledger(wh, f)


ui.refreshing(body)()

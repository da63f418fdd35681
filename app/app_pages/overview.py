"""Overview: the headline numbers against the previous period, what is running now, trends,
and which workflows cost the most, fail the most, and what their successes really cost."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import streamlit as st

from app import charts, ui
from app.queries import connection as db
from app.queries import headline
from app.queries import overview as q


def kpi_tiles(wh: db.Warehouse, f) -> dict:
    now, previous = headline.kpis_compared(wh, f)
    prev = previous or {}
    vs = " vs the previous period" if previous is not None else ""
    row1 = st.columns(4)
    row1[0].metric(
        "Runs",
        ui.integer(now["runs"]),
        ui.change(now["runs"], prev.get("runs")),
        help=f"Runs started in the window{vs}.",
        border=True,
    )
    row1[1].metric(
        "Success rate",
        ui.percent(now["success_rate"]),
        ui.point_change(now["success_rate"], prev.get("success_rate")),
        help="Succeeded / ended runs (running ones excluded).",
        border=True,
    )
    row1[2].metric(
        "Model calls",
        ui.integer(now["model_calls"]),
        ui.change(now["model_calls"], prev.get("model_calls")),
        delta_color="off",
        border=True,
    )
    row1[3].metric(
        "Tokens",
        ui.integer(now["total_tokens"]),
        ui.change(now["total_tokens"], prev.get("total_tokens")),
        delta_color="off",
        help="Input + output tokens of all model calls.",
        border=True,
    )
    row2 = st.columns(4)
    unpriced = now["unpriced_calls"]
    row2[0].metric(
        "Spend (by call time)",
        ui.usd(now["spend_usd"]),
        ui.change(now["spend_usd"], prev.get("spend_usd")),
        delta_color="off",
        border=True,
        help="Priced model calls made in the window (by call time), from the cost ledger's "
        "prices."
        + (f" {unpriced:,} unpriced calls are not included (see Cost)." if unpriced else ""),
    )
    lat_unit = ui.latency_unit(now["latency_p50_ms"], now["latency_p95_ms"])
    row2[1].metric(
        "Latency p50",
        ui.millis(now["latency_p50_ms"], lat_unit),
        _ms_delta(now["latency_p50_ms"], prev.get("latency_p50_ms")),
        delta_color="inverse",
        help="Model call latency, median.",
        border=True,
    )
    row2[2].metric(
        "Latency p95",
        ui.millis(now["latency_p95_ms"], lat_unit),
        _ms_delta(now["latency_p95_ms"], prev.get("latency_p95_ms")),
        delta_color="inverse",
        help="Model call latency, 95th percentile.",
        border=True,
    )
    row2[3].metric(
        "Failed runs",
        ui.integer(now["failed_runs"]),
        ui.change(now["failed_runs"], prev.get("failed_runs")),
        delta_color="inverse",
        border=True,
    )
    return now


def _ms_delta(now: float | None, prev: float | None) -> str | None:
    if now is None or prev is None:
        return None
    return f"{now - prev:+,.0f} ms"


def running_now(wh: db.Warehouse, f) -> None:
    count, rows = q.running_runs(wh, f)
    st.subheader(f"Runs in progress now: {count:,}")
    if not count:
        st.caption("No run is in progress (every run has a completed or failed event).")
        return
    rows = rows.assign(trace=ui.trace_links(rows))
    ui.table(
        rows,
        "running_runs",
        column_order=[
            "started_at",
            "agent_id",
            "workflow_id",
            "steps",
            "model_calls",
            "total_tokens",
            "cost_usd",
            "last_event_at",
            "run_id",
            "trace",
        ],
        config={
            "cost_usd": ui.unit_cost_column("cost so far"),
            "trace": st.column_config.LinkColumn("trace", display_text="open trace"),
        },
        height=min(400, 38 + 35 * len(rows)),
    )
    if count > len(rows):
        st.caption(f"The {len(rows)} most recently started of {count:,}.")


def trends(wh: db.Warehouse, f) -> None:
    summary = headline.summary(wh)
    grain = f.grain((summary.get("first_event_at"), summary.get("latest_event_at")))
    usage = q.usage_series(wh, f, grain)
    runs = q.run_series(wh, f, grain)
    st.subheader(f"Trends (per {grain})")
    left, right = st.columns(2)
    if not usage.empty:
        ui.chart(
            left,
            charts.stacked_bars(
                usage,
                "spend_usd",
                "provider",
                charts.PROVIDER_COLOURS,
                title="Spend by provider",
                value_title="USD",
                money=True,
                grain=grain,
            ),
        )
        ui.chart(
            right,
            charts.stacked_bars(
                usage,
                "total_tokens",
                "provider",
                charts.PROVIDER_COLOURS,
                title="Tokens by provider",
                value_title="tokens",
                grain=grain,
            ),
        )
    if not runs.empty:
        left, right = st.columns(2)
        ui.chart(
            left,
            charts.stacked_bars(
                runs,
                "runs",
                "run_status",
                charts.STATUS_COLOURS,
                title="Runs by outcome",
                value_title="runs",
                grain=grain,
            ),
        )
        ended = runs[runs.run_status != "running"]
        per_bucket = ended.groupby("bucket")["runs"].sum()
        failed = ended[ended.run_status == "failed"].groupby("bucket")["runs"].sum()
        rate = (failed.reindex(per_bucket.index, fill_value=0) / per_bucket).rename("failure_rate")
        rate = rate.reset_index()
        ui.chart(
            right,
            charts.line(
                rate,
                "failure_rate",
                title="Run failure rate",
                value_title="failed / ended runs",
                percent=True,
                grain=grain,
            ),
        )


def workflows(wh: db.Warehouse, f) -> None:
    econ = q.workflow_economics(wh, f)
    if econ.empty:
        return
    econ = econ.copy()
    econ["failure_rate"] = [
        (failed / ended) if ended else None
        for failed, ended in zip(econ.failed_runs, econ.ended_runs, strict=True)
    ]
    # Exact money: DECIMAL arithmetic in Python, rounded for display only.
    econ["wasted_usd"] = [Decimal(x) for x in econ.wasted_usd]
    # The spend of succeeded runs over their number: running, failed and cancelled runs are
    # in neither (their spend is the "bought nothing" figure, or not final yet).
    econ["cost_per_success_usd"] = [
        (Decimal(spend) / ok).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP) if ok else None
        for spend, ok in zip(econ.succeeded_spend_usd, econ.succeeded_runs, strict=True)
    ]
    st.subheader("Workflows")
    st.caption(
        "Runs started in the window, with everything they cost: spend by run start (a run's "
        "calls count in the hour it started), unlike the spend tiles above, by call time."
    )
    left, right = st.columns(2)
    with left:
        st.markdown("**Most expensive**")
        top = econ.sort_values("spend_usd", ascending=False, key=lambda s: s.astype(float))
        ui.table(
            top[["workflow_id", "spend_usd", "runs", "cost_per_success_usd"]].head(10),
            "expensive_workflows",
            config={
                "spend_usd": ui.money_column("spend (by run start)"),
                "cost_per_success_usd": ui.unit_cost_column("per successful run"),
            },
        )
    with right:
        st.markdown("**Least reliable**")
        worst = econ[econ.ended_runs > 0].sort_values(
            ["failure_rate", "failed_runs"], ascending=False
        )
        ui.table(
            worst[
                ["workflow_id", "failure_rate", "failed_runs", "cancelled_runs", "ended_runs"]
            ].head(10),
            "unreliable_workflows",
            config={
                "failure_rate": st.column_config.ProgressColumn(
                    "failure rate", format="percent", min_value=0, max_value=1
                ),
            },
        )

    st.subheader("Unit economics")
    total_spend = sum((Decimal(x) for x in econ.spend_usd), Decimal(0))
    total_waste = sum(econ.wasted_usd, Decimal(0))
    succeeded = int(econ.succeeded_runs.sum())
    succeeded_spend = sum((Decimal(x) for x in econ.succeeded_spend_usd), Decimal(0))
    cols = st.columns(3)
    cols[0].metric(
        "Cost per successful run",
        ui.unit_usd(succeeded_spend / succeeded) if succeeded else "n/a",
        help="The spend of the runs that succeeded divided by their number (runs still "
        "running, failed or cancelled are in neither; what failures cost is the next tile).",
        border=True,
    )
    cols[1].metric(
        "Spend that bought nothing",
        ui.usd(total_waste),
        help="Spend of failed and cancelled runs, plus failed model calls (retried or not) "
        "in the other runs.",
        border=True,
    )
    cols[2].metric(
        "Share of spend wasted",
        ui.percent(ui.share(total_waste, total_spend)),
        border=True,
    )
    ui.table(
        econ,
        "unit_economics",
        column_order=[
            "workflow_id",
            "runs",
            "succeeded_runs",
            "spend_usd",
            "succeeded_spend_usd",
            "cost_per_success_usd",
            "wasted_usd",
            "failed_run_spend_usd",
            "failed_call_spend_usd",
            "failed_model_calls",
        ],
        config={
            "spend_usd": ui.money_column("spend (by run start)"),
            "succeeded_spend_usd": ui.money_column("of succeeded runs"),
            "cost_per_success_usd": ui.unit_cost_column("cost per successful run"),
            "wasted_usd": ui.money_column("spend that bought nothing"),
            "failed_run_spend_usd": ui.money_column("in failed/cancelled runs"),
            "failed_call_spend_usd": ui.money_column("in failed calls of other runs"),
        },
    )


def body() -> None:
    wh, f = ui.current()
    ui.header("Overview", f, wh)
    if not ui.ready(wh):
        return
    with ui.guard():
        k = kpi_tiles(wh, f)
        running_now(wh, f)
        if not k["runs"] and not k["model_calls"]:
            ui.nothing_in_window("runs or model calls", f)
            return
        trends(wh, f)
        workflows(wh, f)


ui.refreshing(body)()

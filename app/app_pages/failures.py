"""Failures: what failed, when and where, grouped by error code and by workflow; every row
links to its run's trace."""

from __future__ import annotations

import streamlit as st

from app import charts, ui
from app.queries import connection as db
from app.queries import failures as q
from app.queries import headline


def kpi_tiles(wh: db.Warehouse, f) -> dict:
    k = q.failure_kpis(wh, f)
    cols = st.columns(5)
    cols[0].metric(
        "Failures",
        ui.integer(k["failures"]),
        border=True,
        help="Every *.failed event: runs, steps, model and tool calls.",
    )
    cols[1].metric("Failed runs", ui.integer(k["failed_runs"]), border=True)
    cols[2].metric("Failed model calls", ui.integer(k["failed_model_calls"]), border=True)
    cols[3].metric("Failed tool calls", ui.integer(k["failed_tool_calls"]), border=True)
    cols[4].metric(
        "Error codes",
        ui.integer(k["error_codes"]),
        border=True,
        help=f"{ui.integer(k['retryable'])} of the failures were retryable.",
    )
    return k  # fmt: skip


def body() -> None:
    wh, f = ui.current()
    ui.header("Failures", f, wh)
    if not ui.ready(wh):
        return
    with ui.guard():
        k = kpi_tiles(wh, f)
        if not k["failures"]:
            ui.nothing_in_window("failures", f)
            return
        summary = headline.summary(wh)
        grain = f.grain((summary.get("first_event_at"), summary.get("latest_event_at")))
        series = q.failure_series(wh, f, grain)
        ui.chart(
            st,
            charts.stacked_bars(
                series,
                "failures",
                "failed_entity",
                charts.ENTITY_COLOURS,
                title=f"Failures per {grain}, by what failed",
                value_title="failures",
                grain=grain,
            ),
        )

        by_code = q.failures_by_code(wh, f)
        by_workflow = q.failures_by_workflow(wh, f)
        left, right = st.columns(2)
        with left:
            st.subheader("By error code")
            ui.table(
                by_code,
                "failures_by_code",
                {"latest_message": st.column_config.TextColumn("latest message", width="large")},
            )
        with right:
            st.subheader("By workflow")
            ui.table(by_workflow, "failures_by_workflow")

        st.subheader("Recent failures")
        codes = list(by_code.error_code.dropna())
        code = st.selectbox(
            "Error code", codes, index=None, placeholder="All error codes", key="failure_code"
        )
        recent = q.recent_failures(wh, f, code)
        recent = recent.assign(trace=ui.trace_links(recent))
        ui.table(
            recent,
            "recent_failures",
            column_order=[
                "occurred_at",
                "failed_entity",
                "error_code",
                "error_type",
                "error_message",
                "workflow_id",
                "agent_id",
                "target",
                "is_error_retryable",
                "trace",
                "run_id",
            ],
            config={
                "occurred_at": ui.time_column("time (UTC)"),
                "error_message": st.column_config.TextColumn("message", width="large"),
                "is_error_retryable": st.column_config.CheckboxColumn("retryable"),
                "target": "model or tool",
                "trace": st.column_config.LinkColumn("trace", display_text="open trace"),
            },
        )
        st.caption(f"The latest {len(recent)} failures; open a trace to see the run around one.")


ui.refreshing(body)()

"""Governance: guardrail policy decisions over time, by policy, decision and actor; the
blocked and escalated ones with their reasons."""

from __future__ import annotations

import streamlit as st

from app import charts, ui
from app.queries import governance as q
from app.queries import headline


def body() -> None:
    wh, f = ui.current()
    ui.header("Governance", f, wh)
    if not ui.ready(wh):
        return
    with ui.guard():
        k = q.policy_kpis(wh, f)
        cols = st.columns(5)
        cols[0].metric("Decisions", ui.integer(k["decisions"]), border=True)
        cols[1].metric("Allowed", ui.integer(k["allowed"]), border=True)
        cols[2].metric("Blocked", ui.integer(k["blocked"]), border=True)
        cols[3].metric(
            "Escalated",
            ui.integer(k["escalated"]),
            border=True,
            help="Sent to a human before the run could go on.",
        )
        cols[4].metric("Redacted", ui.integer(k["redacted"]), border=True)
        if not k["decisions"]:
            ui.nothing_in_window("policy decisions", f)
            return

        summary = headline.summary(wh)
        grain = f.grain((summary.get("first_event_at"), summary.get("latest_event_at")))
        by_policy, by_actor = q.policy_breakdown(wh, f)
        left, right = st.columns(2)
        with left:
            by = (
                st.segmented_control(
                    "Decisions over time by",
                    list(q.POLICY_SERIES_BY),
                    default="decision",
                    key="policy_series_by",
                )
                or "decision"
            )
            series = q.policy_series(wh, f, grain, by)
            palette = charts.STATUS_COLOURS if by == "decision" else {}
            ui.chart(
                st,
                charts.stacked_bars(
                    series,
                    "decisions",
                    by,
                    palette,
                    title=f"Decisions per {grain} by {by}",
                    value_title="decisions",
                    grain=grain,
                ),
            )
        by_policy_chart = by_policy.copy()
        ui.chart(
            right,
            charts.ranked_bars(
                by_policy_chart,
                "policy_id",
                "decisions",
                title="Decisions by policy",
                value_title="decisions",
                palette=charts.STATUS_COLOURS,
                colour_by="decision",
            ),
        )

        left, right = st.columns(2)
        with left:
            st.subheader("By policy")
            pivot = (
                by_policy.pivot_table(
                    index="policy_id",
                    columns="decision",
                    values="decisions",
                    aggfunc="sum",
                    fill_value=0,
                )
                .reset_index()
                .rename_axis(None, axis=1)
            )
            ui.table(pivot, "decisions_by_policy")
        with right:
            st.subheader("By actor")
            ui.table(by_actor, "decisions_by_actor")

        st.subheader("Blocked and escalated")
        flagged = q.flagged_decisions(wh, f)
        flagged = flagged.assign(trace=ui.trace_links(flagged))
        ui.table(
            flagged,
            "flagged_decisions",
            column_order=[
                "occurred_at",
                "decision",
                "policy_id",
                "rule",
                "reason",
                "actor_type",
                "actor_id",
                "agent_id",
                "workflow_id",
                "trace",
            ],
            config={
                "occurred_at": ui.time_column("time (UTC)"),
                "reason": st.column_config.TextColumn("reason", width="large"),
                "trace": st.column_config.LinkColumn("trace", display_text="open trace"),
            },
        )
        st.caption(f"The latest {len(flagged)} blocked or escalated decisions.")


ui.refreshing(body)()

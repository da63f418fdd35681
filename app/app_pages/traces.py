"""Traces: find a run by run id, trace id, agent or time, and see its spans as a waterfall
(run, steps, model and tool calls, policy checks) with latency, tokens, cost and errors."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, ui
from app.queries import connection as db
from app.queries import traces as q

STATUSES = ["succeeded", "failed", "cancelled", "running"]


def span_table(spans: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Spans with a tree label, offsets from the run's start and one error/status column."""
    if spans.empty:
        return spans
    parent = dict(zip(spans.span_id, spans.parent_span_id, strict=True))

    def depth(span_id: str) -> int:
        d, seen = 0, set()
        while parent.get(span_id) in parent and span_id not in seen:
            seen.add(span_id)
            span_id = parent[span_id]
            d += 1
        return d

    def name(row) -> str:
        if row.kind == "run":
            return f"run {run_id}"
        if row.kind == "step":
            return f"step {row.step_type or row.step_id or ''}".strip()
        if row.kind == "model call":
            return f"{row.provider}/{row.model}"
        if row.kind == "tool call":
            return f"tool {row.tool_name or row.call_id or ''}".strip()
        if row.kind == "policy":
            return f"policy {row.policy_id}: {row.decision}"
        return row.event_types

    out = spans.copy()
    t0 = out.start_at.min()
    out["start_ms"] = (out.start_at - t0).dt.total_seconds() * 1000
    out["end_ms"] = (out.end_at - t0).dt.total_seconds() * 1000
    out["duration_ms"] = out.end_ms - out.start_ms
    out["name"] = [name(r) for r in out.itertuples(index=False)]
    out["label"] = [
        f"{i + 1:>3}. {'· ' * depth(s)}{n}"
        for i, (s, n) in enumerate(zip(out.span_id, out.name, strict=True))
    ]
    out["error"] = [
        f"{code}: {msg}" if code else (reason if decision in ("block", "escalate") else None)
        for code, msg, reason, decision in zip(
            out.error_code, out.error_message, out.policy_reason, out.decision, strict=True
        )
    ]
    out["status"] = ["failed" if failed else "ok" for failed in out.is_failed]
    return out


def run_summary(run: dict) -> None:
    status = run["run_status"]
    colour = {"succeeded": "green", "failed": "red", "running": "blue"}.get(status, "gray")
    st.badge(status, color=colour)
    cols = st.columns(5)
    cols[0].metric("Duration", ui.millis(run.get("duration_ms")), border=True)
    cols[1].metric("Steps", ui.integer(run.get("steps")), border=True)
    cols[2].metric("Model calls", ui.integer(run.get("model_calls")), border=True)
    cols[3].metric("Tokens", ui.integer(run.get("total_tokens")), border=True)
    cost = run.get("cost_usd")
    cols[4].metric("Cost", ui.unit_usd(cost) if cost is not None else "unpriced", border=True)
    st.caption(
        f"Agent {run['agent_id']} · workflow {run.get('workflow_id') or '(none)'} · tenant "
        f"{run['tenant_id']} / {run['workspace_id']} / {run['project_id']} · started "
        f"{ui.when(run['started_at'])} · trace `{run['trace_id']}`"
    )
    if run.get("error_code"):
        st.markdown(
            f":red-background[**{run['error_code']}**] {run.get('error_type') or ''}: "
            f"{run.get('error_message') or ''}"
        )


def show_run(wh: db.Warehouse, tenant_id: str, run_id: str) -> None:
    run = q.run_detail(wh, tenant_id, run_id)
    if not run:
        st.warning(f"No run `{run_id}` of tenant `{tenant_id}` in the warehouse.")
        return
    st.subheader(f"Run {run_id}")
    run_summary(run)
    spans = span_table(q.run_spans(wh, tenant_id, run_id), run_id)
    if spans.empty:
        st.info("This run has no events with trace spans.")
        return
    ui.chart(st, charts.waterfall(spans))
    ui.table(
        spans,
        "spans",
        column_order=[
            "label",
            "kind",
            "status",
            "start_ms",
            "duration_ms",
            "total_tokens",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "reasoning_tokens",
            "cost_usd",
            "price_status",
            "error",
            "span_id",
        ],
        config={
            "label": st.column_config.TextColumn("span", width="medium"),
            "start_ms": st.column_config.NumberColumn("start (ms)", format="%.0f"),
            "duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.0f"),
            "total_tokens": "tokens",
            "cost_usd": ui.unit_cost_column("cost"),
            "error": st.column_config.TextColumn("error or reason", width="large"),
        },
    )


def body() -> None:
    wh, f = ui.current()
    ui.header("Traces", f, wh)
    if not ui.ready(wh):
        return
    with ui.guard():
        cols = st.columns([3, 3, 2])
        run_q = cols[0].text_input(
            "Run id", key="run", bind="query-params", placeholder="run id, or its beginning"
        )
        trace_q = cols[1].text_input(
            "Trace id",
            key="trace",
            bind="query-params",
            placeholder="32 hex characters, or the beginning",
        )
        status = cols[2].selectbox(
            "Status",
            STATUSES,
            index=None,
            placeholder="Any status",
            key="run_status",
            bind="query-params",
        )
        run_q, trace_q = (run_q or "").strip(), (trace_q or "").strip()
        runs = q.find_runs(wh, f, run_q, trace_q, status)
        if runs.empty:
            if run_q or trace_q:
                st.warning("No run matches that id (ids match from their beginning).")
            else:
                ui.nothing_in_window("runs", f)
            return
        st.caption(
            f"{len(runs)} run(s), newest first"
            + (" (id search ignores the time range)" if run_q or trace_q else "")
            + ". Select a row to open its trace."
        )
        picked = ui.table(
            runs,
            "runs",
            on_select="rerun",
            selection_mode="single-row",
            height=min(320, 38 + 35 * len(runs)),
            config={
                "started_at": ui.time_column("started (UTC)"),
                "duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.0f"),
                "cost_usd": ui.unit_cost_column("cost"),
            },
        )
        rows = picked.selection.rows if picked is not None else []
        # A run is (tenant_id, run_id): two tenants may both have a run `run_q`.
        exact = runs[runs.run_id == run_q] if run_q else runs.iloc[0:0]
        selected = None
        if rows:
            selected = runs.iloc[rows[0]]
        elif len(exact) == 1:
            selected = exact.iloc[0]
        elif len(exact) > 1:
            st.caption(
                f"Tenants {', '.join(sorted(exact.tenant_id))} each have a run `{run_q}`; "
                "showing the newest: pick a tenant in the sidebar or select a row above."
            )
            selected = exact.iloc[0]
        elif (run_q or trace_q) and len(runs) == 1:
            selected = runs.iloc[0]
        if selected is None:
            ended = runs[runs.run_status != "running"]
            selected = (ended if len(ended) else runs).iloc[0]
            st.caption("Showing the newest finished run; select another above.")
        show_run(wh, selected.tenant_id, selected.run_id)


ui.refreshing(body)()

"""Data health: loads and quarantine over time, the top reason codes with example lines,
duplicates, the last load and build, and how fresh the published warehouse is.

Loads and quarantined lines come from the published warehouse (marts.fct_loads,
marts.fct_quarantined_lines); the lake's commit records are only counted, by name, to tell
the loads a build has not published yet. Loads carry no tenant: the sidebar filters do not
apply here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import charts, ui
from app.queries import connection as db
from app.queries import data_health as q
from app.queries import headline


def loads_section(loads: pd.DataFrame, unpublished: int) -> None:
    last = loads.loaded_at.max() if not loads.empty else None
    cols = st.columns(4)
    cols[0].metric(
        "Loads",
        ui.integer(len(loads)),
        border=True,
        help=f"Last load: {ui.ago(last.to_pydatetime() if last is not None else None)}"
        f" ({ui.when(last)})",
    )
    cols[1].metric("Events accepted", ui.integer(loads.accepted.sum()), border=True)
    cols[2].metric("Lines quarantined", ui.integer(loads.quarantined.sum()), border=True)
    cols[3].metric(
        "Duplicates skipped",
        ui.integer(loads.duplicates.sum()),
        border=True,
        help="Re-sent events (same event_id) the loader recognised; the first copy wins.",
    )
    if last is not None:
        st.caption(f"Last load {ui.ago(last.to_pydatetime())} ({ui.when(last)}).")
    if unpublished:
        st.warning(
            f"{unpublished} load(s) committed to the lake are not in the published warehouse "
            "yet: run `agentops-wh build` (or let Dagster's schedule do it).",
            icon=":material/schedule:",
        )
    if loads.empty:
        if not unpublished:
            st.info(
                "Nothing has been loaded yet.\n\n" + ui.FIRST_EVENT_HELP, icon=":material/inbox:"
            )
        return
    if not unpublished:
        st.success(
            "Every committed load is in the published warehouse.",
            icon=":material/check_circle:",
        )
    span = loads.loaded_at.max() - loads.loaded_at.min()
    grain = "hour" if span <= pd.Timedelta(days=3) else "day"
    series = (
        loads.assign(bucket=loads.loaded_at.dt.floor("h" if grain == "hour" else "D"))
        .groupby("bucket", as_index=False)[["accepted", "quarantined", "duplicates"]]
        .sum()
        .melt(id_vars="bucket", var_name="outcome", value_name="lines")
    )
    ui.chart(
        st,
        charts.stacked_bars(
            series,
            "lines",
            "outcome",
            charts.STATUS_COLOURS,
            title=f"Lines loaded per {grain}",
            value_title="lines",
            grain=grain,
        ),
    )
    with st.expander(f"Latest loads ({min(len(loads), db.LIST_LIMIT)} of {len(loads)})"):
        ui.table(
            loads.head(db.LIST_LIMIT),
            "loads",
            config={"loaded_at": ui.time_column("loaded (UTC)")},
        )


def quarantine_section(wh: db.Warehouse) -> None:
    st.subheader("Quarantine")
    reasons, examples = q.quarantine(wh)
    if reasons.empty:
        st.caption("No line has been quarantined.")
        return
    st.caption(
        f"Rejected lines are kept in `{db.data_dir() / 'quarantine'}`, one JSON object "
        "each with the reason and the original line."
    )
    left, right = st.columns([2, 3])
    with left:
        ui.table(
            reasons,
            "quarantine_reasons",
            config={
                "first_at": ui.time_column("first (UTC)"),
                "last_at": ui.time_column("last (UTC)"),
            },
        )
    with right:
        ui.chart(
            st,
            charts.ranked_bars(
                reasons.head(15),
                "reason_code",
                "lines",
                title="Top reason codes",
                value_title="lines",
                colour=charts.BAD,
            ),
        )
    reason = st.selectbox("Example lines for", list(reasons.reason_code), key="quarantine_reason")
    ui.table(
        examples[examples.reason_code == reason],
        "quarantine_examples",
        config={
            "quarantined_at": ui.time_column("quarantined (UTC)"),
            "raw": st.column_config.TextColumn("line (first 500 characters)", width="large"),
        },
    )


def warehouse_section(wh: db.Warehouse) -> None:
    st.subheader("Published warehouse")
    s = headline.summary(wh)
    now = datetime.now(UTC)
    cols = st.columns(4)
    cols[0].metric("Events in the warehouse", ui.integer(s.get("events")), border=True)
    cols[1].metric(
        "Published",
        ui.ago(wh.published_at, now),
        border=True,
        help=f"{ui.when(wh.published_at)}: when the last build published it.",
    )
    cols[2].metric(
        "Latest event loaded",
        ui.ago(s.get("latest_loaded_at"), now),
        border=True,
        help=ui.when(s.get("latest_loaded_at")),
    )
    cols[3].metric(
        "Latest event",
        ui.ago(s.get("latest_event_at"), now),
        border=True,
        help=f"{ui.when(s.get('latest_event_at'))}: the newest occurred_at.",
    )
    dq = q.data_quality(wh)
    cols = st.columns(4)
    for col, (label, key, text) in zip(
        cols,
        [
            (
                "Duplicate copies",
                "duplicate_copies",
                "Later copies of an event (same tenant and event_id), kept in the lake and "
                "listed by dq_duplicate_events.",
            ),
            (
                "Conflicting duplicates",
                "conflicting_duplicates",
                "Same tenant and event_id, different content: the first loaded copy won.",
            ),
            (
                "Reused ids",
                "conflicting_ids",
                "Events that reuse, within their tenant, a model_call_id or a run's "
                "run.completed that an earlier loaded event claimed: the first loaded counts "
                "(and is priced), the later one is listed in dq_conflicting_ids.",
            ),
            (
                "Runs whose roll-up disagrees",
                "run_usage_mismatches",
                "Runs whose reported resource_usage differs from the sum of their model calls.",
            ),
        ],
        strict=True,
    ):
        value = dq.get(key)
        col.metric(label, "n/a" if value is None else ui.integer(value), help=text, border=True)
    if isinstance(dq.get("conflict_examples"), pd.DataFrame) and len(dq["conflict_examples"]):
        with st.expander("Events that reuse an id of their tenant (the first loaded counts)"):
            ui.table(dq["conflict_examples"], "conflicting_ids")
    if isinstance(dq.get("mismatch_examples"), pd.DataFrame) and len(dq["mismatch_examples"]):
        with st.expander("Runs whose roll-up disagrees with their model calls"):
            ui.table(dq["mismatch_examples"], "usage_mismatches")


def body() -> None:
    wh = db.warehouse()
    ui.header("Data health", None, wh, note="filters do not apply: loads carry no tenant")
    with ui.guard():
        if wh is None:
            st.subheader("Published warehouse")
            ui.missing_warehouse()
            committed = q.unregistered_loads(None)
            if committed:
                st.caption(f"{committed} load(s) committed to the lake wait for that build.")
            return
        warehouse_section(wh)
        st.subheader("Loads")
        loads_section(q.loads(wh), q.unregistered_loads(wh))
        quarantine_section(wh)


ui.refreshing(body)()

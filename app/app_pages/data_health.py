"""Data health: loads and quarantine over time, the top reason codes with example lines,
duplicates, the last load and build, and how fresh the published warehouse is.

It reads the lake's commit records and the quarantine folder as well as the warehouse, so it
still helps when there is no warehouse yet. Loads carry no tenant: the sidebar filters do not
apply here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import charts, queries, ui


def loads_section(loads: pd.DataFrame, in_warehouse: set[str] | None) -> None:
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
    if loads.empty:
        st.info("Nothing has been loaded yet.\n\n" + ui.FIRST_EVENT_HELP, icon=":material/inbox:")
        return
    if in_warehouse is not None:
        pending = loads[(loads.accepted > 0) & ~loads.load_id.isin(in_warehouse)]
        if len(pending):
            st.warning(
                f"{len(pending)} load(s) with {int(pending.accepted.sum()):,} events are not in "
                "the published warehouse yet: run `agentops-wh build` (or let Dagster's "
                "schedule do it).",
                icon=":material/schedule:",
            )
        else:
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
    with st.expander(f"Latest loads ({min(len(loads), queries.LIST_LIMIT)} of {len(loads)})"):
        ui.table(
            loads.head(queries.LIST_LIMIT),
            "loads",
            config={"loaded_at": ui.time_column("loaded (UTC)")},
        )


def quarantine_section() -> None:
    st.subheader("Quarantine")
    reasons, examples = queries.quarantine(str(queries.data_dir()), queries.quarantine_signature())
    if reasons.empty:
        st.caption("No line has been quarantined.")
        return
    st.caption(
        f"Rejected lines are kept in `{queries.data_dir() / 'quarantine'}`, one JSON object "
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


def warehouse_section(wh: queries.Warehouse | None) -> set[str] | None:
    st.subheader("Published warehouse")
    if wh is None:
        ui.missing_warehouse()
        return None
    s = queries.summary(wh)
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
    dq = queries.data_quality(wh)
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
    return set(queries.warehouse_loads(wh).load_id)


def body() -> None:
    wh = queries.warehouse()
    ui.header("Data health", None, wh, note="filters do not apply: loads carry no tenant")
    with ui.guard():
        in_warehouse = warehouse_section(wh)
        st.subheader("Loads")
        loads = queries.loads(str(queries.data_dir()), queries.loads_signature())
        loads_section(loads, in_warehouse)
        quarantine_section()


ui.refreshing(body)()

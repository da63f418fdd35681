"""The Data health page's queries: loads and quarantine (marts.fct_loads,
marts.fct_quarantined_lines), the data-quality models' counts, and which committed loads
the published warehouse does not hold yet."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.queries import connection as db


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def loads(wh: db.Warehouse) -> pd.DataFrame:
    """One row per load the warehouse registered, newest first: what the loader did with
    its lines (marts.fct_loads)."""
    return db.query(
        wh,
        """
        select
            loaded_at, load_id,
            accepted_lines as accepted,
            quarantined_lines as quarantined,
            duplicate_lines as duplicates,
            conflicting_duplicate_lines as conflicting_duplicates,
            files_loaded,
            load_seconds as seconds
        from marts.fct_loads
        order by loaded_at desc, load_id desc
        """,
    )


def unregistered_loads(wh: db.Warehouse | None) -> int:
    """Loads committed to the lake that the published warehouse does not hold yet.

    The lake's commit records are listed by name only (`lake/_loads/<load_id>.json`, never
    read): a newer load exists exactly when its record does. Not cached: one directory
    listing, so a load is seen at the next refresh.
    """
    try:
        committed = {p.stem for p in (db.data_dir() / "lake" / "_loads").glob("*.json")}
    except OSError:
        committed = set()
    if wh is None or not committed:
        return len(committed)
    return len(committed - set(loads(wh).load_id))


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def quarantine(wh: db.Warehouse, examples: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lines per reason code; the latest `examples` lines of each reason), from
    marts.fct_quarantined_lines."""
    return tuple(
        db.queries(
            wh,
            (
                """
                select
                    reason_code,
                    count(*) as lines,
                    count(distinct source) as sources,
                    min(quarantined_at) as first_at,
                    max(quarantined_at) as last_at
                from marts.fct_quarantined_lines
                group by all
                order by lines desc, reason_code
                """,
                [],
            ),
            (
                f"""
                select
                    reason_code, quarantined_at, source, line_no, first_error as error,
                    raw_excerpt as raw
                from marts.fct_quarantined_lines
                qualify row_number() over (
                    partition by reason_code order by quarantined_at desc, source, line_no
                ) <= {int(examples)}
                order by reason_code, quarantined_at desc
                """,
                [],
            ),
        )
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def data_quality(wh: db.Warehouse) -> dict[str, Any]:
    """Counts from the data-quality models; None for a model the warehouse does not have."""
    with db.connection(wh) as con:
        present = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'data_quality'"
            ).fetchall()
        }
        out: dict[str, Any] = {
            "duplicate_copies": None,
            "conflicting_duplicates": None,
            "run_usage_mismatches": None,
            "mismatch_examples": pd.DataFrame(),
            "conflicting_ids": None,
            "conflict_examples": pd.DataFrame(),
        }
        if "dq_duplicate_events" in present:
            row = db.one(
                db.frame(
                    con,
                    """
                    select count(*) as duplicate_copies,
                           count(*) filter (where is_conflicting) as conflicting_duplicates
                    from data_quality.dq_duplicate_events
                    """,
                )
            )
            out.update(row)
        if "dq_run_usage_mismatches" in present:
            out["run_usage_mismatches"] = int(
                con.execute("select count(*) from data_quality.dq_run_usage_mismatches").fetchall()[
                    0
                ][0]
            )
            out["mismatch_examples"] = db.frame(
                con,
                f"""
                select run_id, tenant_id, agent_id, run_status, model_calls,
                       array_to_string(mismatched_token_kinds, ', ') as mismatched,
                       reported_total_tokens, summed_total_tokens, ended_at
                from data_quality.dq_run_usage_mismatches
                order by ended_at desc nulls last, run_id
                limit {db.LIST_LIMIT}
                """,
            )
        if "dq_conflicting_ids" in present:
            examples = db.frame(
                con,
                f"""
                select tenant_id, id_kind, conflicting_id, event_id, winning_event_id,
                       event_type, occurred_at, loaded_at, count(*) over () as total
                from data_quality.dq_conflicting_ids
                order by loaded_at desc, tenant_id, event_id
                limit {db.LIST_LIMIT}
                """,
            )
            out["conflicting_ids"] = int(examples.total.iloc[0]) if len(examples) else 0
            out["conflict_examples"] = examples.drop(columns="total")
        return out

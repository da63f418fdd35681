"""The warehouse end to end: load fixture events, run the real dbt build, check the marts.

One scenario, shared by every test of this module (each dbt build costs seconds):

0. build on a data directory without a lake (a fresh clone) -> empty marts, published;
1. two loads (the second with identical and conflicting duplicates) -> incremental build;
2. a late load (a past hour, the end of a running run, a duplicate model_call_id), a load
   whose every line is quarantined and an alert outbox -> incremental build;
3. a full refresh, which must give the same rows as the incremental path.

The HTTP loader's quarantine gets a file before build 1; before build 2 the quarantine also
holds files no build may read (a temporary, and one of a load that never committed).

A reader process queries the published warehouse in a loop through builds 1 to 3.
Expected numbers come from tests/warehouse/expected.py over the same event dicts.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.files.loader import load_paths
from orchestration.warehouse.build import BuildResult, build, run_unit_tests
from tests.warehouse import expected as X
from tests.warehouse.fixtures import Fixture, make_fixture, make_run

pytestmark = pytest.mark.slow

AS_OF = "2026-11-21T12:00:00+00:00"  # pins budget_status' "now" so both paths agree
MARTS = [
    "fct_events",
    "fct_runs",
    "fct_model_calls",
    "fct_failures",
    "fct_policy_decisions",
    "agg_usage_hourly",
    "agg_usage_daily",
    "budget_status",
    "fct_alerts",
    "fct_spans",
    "agg_workflow_runs_hourly",
    "budget_scopes",
    "fct_loads",
    "fct_quarantined_lines",
]
# Stamps of the build that wrote (or registered) a row: a full refresh moves them.
BUILD_STAMPS = ("built_at", "registered_at")
BUDGET_KEY = "budget:acme:acme-daily:2026-11-20T00:00:00Z:80"

READER = r"""
import json, sys, time, duckdb
path, stop = sys.argv[1], sys.argv[2]
import os
while not os.path.exists(stop):
    try:
        con = duckdb.connect(path, read_only=True)
        try:
            row = con.execute('''
                select (select count(*) from marts.fct_events),
                       (select coalesce(sum(events), 0) from marts.fct_runs),
                       (select count(*) from marts.fct_model_calls),
                       (select coalesce(sum(model_calls), 0) from marts.fct_runs)
            ''').fetchone()
        finally:
            con.close()
        print(json.dumps({"ok": [int(x) for x in row]}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": repr(exc)}), flush=True)
    time.sleep(0.02)
"""


@dataclass
class Scenario:
    data_dir: Path
    loads: list[list[dict]] = field(default_factory=list)
    builds: list[BuildResult] = field(default_factory=list)
    snapshots: list[dict[str, list[tuple]]] = field(default_factory=list)
    reader_lines: list[dict] = field(default_factory=list)
    unit_tests: BuildResult | None = None
    late_run_id: str = ""
    completed_run_id: str = ""
    late_hour: datetime | None = None


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every mart's rows, sorted, without the stamps of the builds that wrote them."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out: dict[str, Any] = {"columns": {}}
        for t in MARTS:
            cols = [d[0] for d in con.execute(f"select * from marts.{t} limit 0").description]
            cols = [c for c in cols if c not in BUILD_STAMPS]
            out["columns"][t] = cols
            out[t] = con.execute(f"select {', '.join(cols)} from marts.{t} order by all").fetchall()
        return out
    finally:
        con.close()


def query(s: Scenario, sql: str) -> list[tuple]:
    con = duckdb.connect(str(s.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _build(s: Scenario, full_refresh: bool = False) -> BuildResult:
    result = build(s.data_dir, full_refresh=full_refresh, dbt_vars={"budget_as_of": AS_OF})
    assert result.success, result.summary() + "\n" + result.output_tail
    s.builds.append(result)
    s.snapshots.append(snapshot(s.data_dir / "warehouse.duckdb"))
    return result


def _load(s: Scenario, events: list[dict], name: str) -> None:
    f = Fixture([events]).write(s.data_dir / "incoming" / name)[0]
    summary = load_paths([f], s.data_dir, final=True)
    assert summary.quarantined == 0, summary
    s.loads.append(events)


# Lines no event can be made of, as a producer might send them; the non-UTF-8 one is kept
# base64-encoded.
REJECTED_LINES = [
    b"this is not json",
    b'{"event_version": "0", "event_id": "no-time", "event_type": "run.started"}',
    b'{"event_id": "caf\xe9"}',
]


def _load_rejected(s: Scenario, name: str) -> None:
    """A load whose every line is quarantined: a commit record, no lake rows."""
    f = s.data_dir / "incoming" / name / "rejected.jsonl"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"".join(line + b"\n" for line in REJECTED_LINES))
    summary = load_paths([f], s.data_dir, final=True)
    assert (summary.accepted, summary.quarantined) == (0, len(REJECTED_LINES)), summary


def _quarantine_over_http(s: Scenario) -> None:
    """What the HTTP loader writes for a rejected line: a quarantine file of its own."""
    from ingestion.files.loader import write_quarantine
    from ingestion.validation.contract import FieldError, Rejection

    why = Rejection("invalid_json", (FieldError("", "Expecting value"),))
    assert write_quarantine([(1, b"{oops", why)], "http", s.data_dir)


def _leave_unreadable_quarantine(s: Scenario) -> None:
    """Quarantine files a build must skip: a temporary being written, and the file of a load
    that never committed (the next load's recovery removes it)."""
    folder = s.data_dir / "quarantine"
    line = b'{"source": "x", "line_no": 1, "reason_code": "never_read", "errors": []}\n'
    (folder / ".tmp-L20990101T000000000000_abcdef.jsonl").write_bytes(line)
    (folder / "L20990101T000000000000_abcdef.jsonl").write_bytes(line)


def late_load(fx: Fixture) -> tuple[list[dict], str, str, datetime]:
    """A run in a past hour, the end of a running run, and duplicates of both kinds."""
    import random

    rng = random.Random(99)
    lines = fx.all_lines()
    late_at = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)
    late = make_run(rng, 900, late_at, "succeeded", tenant=("acme", "acme-prod", "acme-support"))
    running = sorted(
        {e["run"]["run_id"] for e in lines}
        - {e["run"]["run_id"] for e in lines if e["event_type"] in ("run.completed", "run.failed")}
    )
    run_id = running[0]
    last = max((e for e in lines if e["run"]["run_id"] == run_id), key=lambda e: e["occurred_at"])
    end = copy.deepcopy(last)
    for k in ("step", "model_call", "tool_call", "error", "cost", "policy", "attributes"):
        end.pop(k, None)
    end_at = X.parse_ts(last["occurred_at"]) + timedelta(seconds=1)
    end.update(
        event_id=f"{run_id}-end",
        event_type="run.completed",
        occurred_at=end_at.isoformat().replace("+00:00", "Z"),
        resource_usage={"input_tokens": 0, "output_tokens": 0},
    )
    end["run"] = dict(end["run"], status="succeeded", ended_at=end["occurred_at"])
    a_call = next(e for e in lines if e["event_type"] == "model_call.completed")
    same_call = copy.deepcopy(a_call)
    same_call["event_id"] = "retry-with-new-event-id"  # same model_call_id: must not count
    events = [*late, end, copy.deepcopy(lines[0]), same_call]
    hour = late_at.replace(minute=0)
    return events, late[0]["run"]["run_id"], run_id, hour


def write_outbox(data_dir: Path) -> None:
    ts = pa.timestamp("us", tz="UTC")
    now = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    table = pa.table(
        {
            "dedupe_key": [BUDGET_KEY, "forecast:acme-daily:2026-11-21T00:00:00Z"],
            "alert_id": [BUDGET_KEY, "forecast:acme-daily:2026-11-21T00:00:00Z"],
            "alert_type": ["budget_threshold", "budget_forecast"],
            "destination": ["slack:#acme-finance", "slack:#acme-finance"],
            "status": ["sent", "failed"],
            "attempts": pa.array([1, 3], pa.int32()),
            "last_attempt_at": pa.array([now, now], ts),
            "sent_at": pa.array([now, None], ts),
            "error_message": [None, "404 channel_not_found"],
            "created_at": pa.array([now, now], ts),
            "recorded_at": pa.array([now, now], ts),
        }
    )
    dest = data_dir / "outbox" / "alerts"
    dest.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, dest / "outbox.parquet")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("warehouse"))
    _build(s)  # 0: no lake at all

    stop = s.data_dir / "stop-reader"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(s.data_dir / "warehouse.duckdb"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        fx = make_fixture()
        _load(s, fx.loads[0], "a")
        _load(s, fx.loads[1], "b")
        _quarantine_over_http(s)
        _build(s)  # 1
        events, s.late_run_id, s.completed_run_id, s.late_hour = late_load(fx)
        _load(s, events, "c")
        _load_rejected(s, "d")
        write_outbox(s.data_dir)
        _leave_unreadable_quarantine(s)
        _build(s)  # 2
        _build(s, full_refresh=True)  # 3
        time.sleep(0.3)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    s.reader_lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    s.unit_tests = run_unit_tests(s.data_dir, dbt_vars={"budget_as_of": AS_OF})
    return s


def expected_state(s: Scenario, upto: int) -> tuple[list[dict], list[dict]]:
    loads = s.loads[:upto]
    events = X.first_loaded(loads)
    return events, X.model_calls(events, loads)


# --- build 0: a fresh clone --------------------------------------------------------------


def test_empty_lake_builds_and_publishes_empty_marts(scenario: Scenario) -> None:
    first = scenario.snapshots[0]
    assert scenario.builds[0].published_path == scenario.data_dir / "warehouse.duckdb"
    for table in MARTS:
        if table != "budget_status":
            assert first[table] == [], table
    # Budgets exist without any spend: 6 budgets x (current, previous), all at 0.
    assert len(first["budget_status"]) == 12


# --- dedupe ----------------------------------------------------------------------------


def test_one_row_per_event_first_loaded_copy_wins(scenario: Scenario) -> None:
    events, _ = expected_state(scenario, 2)
    snap = scenario.snapshots[1]
    assert len(snap["fct_events"]) == len(events)
    conflicting = scenario.loads[1][-1]  # the conflicting copy is the second load's last line
    rows = query(
        scenario,
        f"select attributes, load_id from marts.fct_events "
        f"where event_id = '{conflicting['event_id']}'",
    )
    assert rows[0][0] is None  # the first copy had no attributes; the conflicting one did
    dq = query(scenario, "select event_id, is_conflicting from data_quality.dq_duplicate_events")
    counts = Counter(c for _, c in dq)
    # loads: 5 identical + 1 conflicting copy; late load: 1 identical copy
    assert counts == {False: 6, True: 1}
    per_load = query(
        scenario,
        "select count(*), sum(lake_rows), sum(kept_rows), sum(duplicate_copies) "
        "from data_quality.dq_lake_loads",
    )
    lines = sum(len(load) for load in scenario.loads)
    assert per_load == [(3, lines, lines - 7, 7)]
    conflicts = query(scenario, "select event_id from data_quality.dq_conflicting_duplicates")
    assert conflicts == [(conflicting["event_id"],)]


def test_model_calls_deduped_on_model_call_id_and_normalised(scenario: Scenario) -> None:
    events, calls = expected_state(scenario, 3)
    rows = query(
        scenario, "select model_call_id, event_id, provider, model from marts.fct_model_calls"
    )
    assert len(rows) == len(calls)
    assert "retry-with-new-event-id" not in {r[1] for r in rows}
    # ...but it is not dropped without a trace: listed beside the event whose call counts.
    retry = next(e for e in scenario.loads[2] if e["event_id"] == "retry-with-new-event-id")
    winner = next(
        c
        for c in calls
        if X.key(c, c["model_call"]["model_call_id"])
        == X.key(retry, retry["model_call"]["model_call_id"])
    )
    assert query(
        scenario,
        "select tenant_id, id_kind, conflicting_id, event_id, winning_event_id "
        "from data_quality.dq_conflicting_ids where id_kind = 'model_call'",
    ) == [
        (
            retry["tenant"]["tenant_id"],
            "model_call",
            retry["model_call"]["model_call_id"],
            "retry-with-new-event-id",
            winner["event_id"],
        )
    ]
    assert {(r[2], r[3]) for r in rows} <= {
        ("openai", "gpt-4o-2024-08-06"),
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-3-5-sonnet-20241022"),
        ("openai", "no-such-model-xyz"),
    }
    unpriced = query(
        scenario,
        "select count(*), count(cost_usd) from marts.fct_model_calls "
        "where price_status = 'unpriced'",
    )
    n_unknown = sum(1 for c in calls if c["model_call"]["model"] == "no-such-model-xyz")
    assert unpriced == [(n_unknown, 0)]  # unpriced is NULL, never 0


# --- runs --------------------------------------------------------------------------------


def test_run_counts_by_status_match(scenario: Scenario) -> None:
    for build_no, upto in ((1, 2), (2, 3)):
        events, calls = expected_state(scenario, upto)
        want = Counter(r.status for r in X.runs(events, calls).values())
        cols = scenario.snapshots[build_no]["columns"]["fct_runs"]
        got = Counter(
            row[cols.index("run_status")] for row in scenario.snapshots[build_no]["fct_runs"]
        )
        assert got == want, build_no
    assert want["running"] > 0 and want["failed"] > 0 and want["cancelled"] > 0


def test_run_tokens_calls_and_steps_match(scenario: Scenario) -> None:
    events, calls = expected_state(scenario, 3)
    want = X.runs(events, calls)
    rows = query(
        scenario,
        "select tenant_id, run_id, steps, model_calls, failed_model_calls, input_tokens, "
        "output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, total_tokens, "
        "error_code, ended_at is null, duration_ms from marts.fct_runs",
    )
    assert len(rows) == len(want)
    for tenant_id, run_id, steps, n, nf, inp, out, cached, cw, reas, total, err, open_, dur in rows:
        r = want[(tenant_id, run_id)]
        assert (steps, n, nf) == (len(r.steps), r.model_calls, r.failed_model_calls), run_id
        assert (inp, out, cached, cw, reas) == (
            r.tokens["input_tokens"],
            r.tokens["output_tokens"],
            r.tokens["cached_tokens"],
            r.tokens["cache_write_tokens"],
            r.tokens["reasoning_tokens"],
        ), run_id
        assert total == inp + out
        assert err == r.error_code
        assert open_ == (r.status == "running")
        assert (dur is None) == open_ and (dur is None or dur >= 0)


def test_running_run_ends_when_its_completion_arrives_late(scenario: Scenario) -> None:
    def status(snap: dict) -> str:
        cols = snap["columns"]["fct_runs"]
        rows = [r for r in snap["fct_runs"] if r[0] == scenario.completed_run_id]
        return rows[0][cols.index("run_status")]

    assert status(scenario.snapshots[1]) == "running"
    assert status(scenario.snapshots[2]) == "succeeded"


def test_usage_roll_up_mismatches_listed(scenario: Scenario) -> None:
    events, calls = expected_state(scenario, 3)
    want = X.runs(events, calls)
    mismatched = set()
    for ev in events:
        if ev["event_type"] in ("run.completed", "run.failed"):
            run_key = X.key(ev, ev["run"]["run_id"])
            t = want[run_key].tokens
            u = ev["resource_usage"]
            if (u["input_tokens"], u["output_tokens"]) != (t["input_tokens"], t["output_tokens"]):
                mismatched.add(run_key)
    got = set(query(scenario, "select tenant_id, run_id from data_quality.dq_run_usage_mismatches"))
    assert got == mismatched and mismatched


# --- failures and policies ---------------------------------------------------------------


def test_failures_one_row_per_failed_event(scenario: Scenario) -> None:
    events, _ = expected_state(scenario, 3)
    want = Counter(
        e["event_type"].split(".")[0] for e in events if e["event_type"].endswith(".failed")
    )
    got = dict(query(scenario, "select failed_entity, count(*) from marts.fct_failures group by 1"))
    assert got == dict(want)
    decisions = sum(e["event_type"] == "policy.decision" for e in events)
    assert query(scenario, "select count(*) from marts.fct_policy_decisions") == [(decisions,)]


# --- aggregates --------------------------------------------------------------------------


def _hourly_rows(snap: dict) -> dict[tuple, dict[str, Any]]:
    cols = snap["columns"]["agg_usage_hourly"]
    out = {}
    for row in snap["agg_usage_hourly"]:
        r = dict(zip(cols, row, strict=True))
        key = (
            r["hour_start"], r["tenant_id"], r["workspace_id"], r["project_id"], r["agent_id"],
            r["workflow_id"], r["provider"], r["model"],
        )  # fmt: skip
        out[key] = r
    return out


def _check_hourly(snap: dict, events: list[dict], calls: list[dict]) -> None:
    want = X.hourly(events, calls)
    got = _hourly_rows(snap)
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        for col in (
            "runs",
            "model_calls",
            "failures",
            "tool_calls",
            "input_tokens",
            "output_tokens",
        ):
            assert g[col] == w[col], (key, col)
        for col, q in (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95), ("latency_p99_ms", 0.99)):
            expect = X.quantile_cont(w["latencies"], q)
            if expect is None:
                assert g[col] is None
            else:
                # Rounded to the microsecond (macros/engine_sql.sql, percentile_cont).
                assert math.isclose(g[col], expect, rel_tol=0, abs_tol=0.0005 + 1e-9), (key, col)


def test_hourly_aggregates_match_including_percentiles(scenario: Scenario) -> None:
    for build_no, upto in ((1, 2), (2, 3)):
        events, calls = expected_state(scenario, upto)
        _check_hourly(scenario.snapshots[build_no], events, calls)


def test_late_data_recomputes_a_past_hour(scenario: Scenario) -> None:
    def acme_hour(snap: dict) -> int:
        return sum(
            r["runs"]
            for k, r in _hourly_rows(snap).items()
            if k[0] == scenario.late_hour and k[1] == "acme"
        )

    before, after = acme_hour(scenario.snapshots[1]), acme_hour(scenario.snapshots[2])
    assert after == before + 1
    # Hours the late load did not touch keep their rows, watermark column included.
    touched = {X.hour_of(e) for e in scenario.loads[2]}
    old = {k: v for k, v in _hourly_rows(scenario.snapshots[1]).items() if k[0] not in touched}
    new = {k: v for k, v in _hourly_rows(scenario.snapshots[2]).items() if k[0] not in touched}
    assert old == new and old


def test_daily_cost_equals_model_call_cost_per_day_and_tenant(scenario: Scenario) -> None:
    daily = query(
        scenario,
        "select usage_date, tenant_id, sum(cost_usd), sum(unpriced_calls) "
        "from marts.agg_usage_daily group by all order by all",
    )
    calls = query(
        scenario,
        "select call_date, tenant_id, sum(cost_usd), "
        "count(*) filter (where price_status = 'unpriced') "
        "from marts.fct_model_calls group by all order by all",
    )
    assert [d for d in daily if d[2] is not None or d[3]] == [c for c in calls]
    assert all(isinstance(d[2], Decimal) for d in daily if d[2] is not None)


# --- budgets and alerts ------------------------------------------------------------------


def test_budget_status_spend_and_periods(scenario: Scenario) -> None:
    rows = query(
        scenario,
        "select budget_period_id, period_start, period_end, spend_usd, forecast_usd, "
        "elapsed_fraction from marts.budget_status where budget_id = 'acme-daily' order by 1",
    )
    spend = dict(
        query(
            scenario,
            "select call_date, coalesce(sum(cost_usd), 0) from marts.fct_model_calls "
            "where tenant_id = 'acme' group by 1",
        )
    )
    (cur_id, cur_start, cur_end, cur_spend, cur_fc, cur_frac), (prev_id, *_p) = rows
    assert cur_id == "acme-daily@current" and prev_id == "acme-daily@previous"
    assert cur_start == datetime(2026, 11, 21, tzinfo=UTC)
    assert cur_end == datetime(2026, 11, 22, tzinfo=UTC)
    assert cur_frac == 0.5
    assert cur_spend == spend[datetime(2026, 11, 21).date()]  # as_of is noon: the whole day
    assert cur_fc == cur_spend * 2
    assert _p[2] == spend[datetime(2026, 11, 20).date()] == _p[3]


def test_alerts_dedupe_and_delivery_status(scenario: Scenario) -> None:
    rows = {
        r[0]: r[1:]
        for r in query(
            scenario,
            "select dedupe_key, alert_source, delivery_status, delivery_attempts, event_count "
            "from marts.fct_alerts",
        )
    }
    assert rows[BUDGET_KEY] == ("budget.threshold_hit", "sent", 1, 1)
    assert rows["alert:acme:alert-1"] == ("alert.emitted", "sent", 0, 1)
    assert rows["forecast:acme-daily:2026-11-21T00:00:00Z"] == ("outbox", "failed", 3, 0)
    assert len(rows) == 3


# --- loads and quarantine (the Data health page) -----------------------------------------


def _readable_quarantine(data_dir: Path) -> list[tuple]:
    """The quarantine as a build may read it, parsed here: every line of the complete files
    of committed loads and of the HTTP loader, as (file, source, line_no, reason_code, first
    error, the line's first 500 characters)."""
    committed = {p.stem for p in (data_dir / "lake" / "_loads").glob("*.json")}
    rows = []
    for f in sorted((data_dir / "quarantine").glob("*.jsonl")):
        if f.name.startswith(".") or (f.name.startswith("L") and f.stem not in committed):
            continue
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            error = rec["errors"][0]
            raw = rec["raw"] if "raw" in rec else "base64: " + rec["raw_b64"]
            rows.append(
                (
                    f.name,
                    rec["source"],
                    rec["line_no"],
                    rec["reason_code"],
                    f"{error['path']}: {error['message']}",
                    raw[:500],
                )
            )
    return sorted(rows)


def test_quarantined_lines_are_read_once_per_complete_file(scenario: Scenario) -> None:
    want = _readable_quarantine(scenario.data_dir)
    assert Counter(row[3] for row in want) == {
        "invalid_json": 2,  # one over HTTP, one in the load
        "missing_field": 1,
        "invalid_utf8": 1,
    }
    columns = "quarantine_file, source, line_no, reason_code, first_error, raw_excerpt"
    got = query(scenario, f"select {columns} from marts.fct_quarantined_lines order by all")
    assert got == want

    # Build 1 read the HTTP loader's file; build 2 only the load's (incrementally), never
    # the temporary nor the file of a load that never committed.
    def sources(build: int) -> list[str]:
        cols = scenario.snapshots[build]["columns"]["fct_quarantined_lines"]
        rows = scenario.snapshots[build]["fct_quarantined_lines"]
        return sorted(row[cols.index("source")] for row in rows)

    assert sources(1) == ["http"]
    assert len(sources(2)) == len(want) == 1 + len(REJECTED_LINES)
    assert query(
        scenario,
        "select count(distinct registered_at), count(*) from marts.fct_quarantined_lines "
        "where source = 'http'",
    ) == [(1, 1)]


def test_loads_hold_each_commit_record_beside_its_lake_rows(scenario: Scenario) -> None:
    records = {
        p.stem: json.loads(p.read_text())
        for p in (scenario.data_dir / "lake" / "_loads").glob("*.json")
    }
    want = [
        (
            load_id,
            datetime.strptime(load_id[1:22], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC),
            r["accepted"],
            r["quarantined"],
            r["duplicates"],
            r["conflicting_duplicates"],
            r["files_loaded"],
            r["accepted"],  # every accepted line is a lake row, duplicates included
        )
        for load_id, r in sorted(records.items())
    ]
    got = [
        (row[0], row[1].astimezone(UTC), *row[2:])
        for row in query(
            scenario,
            "select load_id, loaded_at, accepted_lines, quarantined_lines, duplicate_lines, "
            "conflicting_duplicate_lines, files_loaded, lake_rows from marts.fct_loads "
            "order by load_id",
        )
    ]
    assert got == want
    # Loads a, b, c, then d whose every line was quarantined. Duplicates: five identical and
    # one conflicting copy in b, one identical copy in c (as dq_duplicate_events lists them).
    assert [(r[2] > 0, r[3]) for r in got] == [(True, 0), (True, 0), (True, 0), (False, 3)]
    assert sum(r[4] for r in got) == 1 + 6 and sum(r[5] for r in got) == 1


# --- incremental == full refresh, publishing ---------------------------------------------


def test_full_refresh_gives_the_same_rows_as_the_incremental_path(scenario: Scenario) -> None:
    incremental, full = scenario.snapshots[2], scenario.snapshots[3]
    assert scenario.builds[3].full_refresh and not scenario.builds[2].full_refresh
    for table in MARTS:
        assert incremental[table] == full[table], table
        assert len(full[table]) > 0, table


def test_rebuild_keeps_ledger_balanced_with_daily_aggregates(scenario: Scenario) -> None:
    ledger = query(
        scenario,
        "select cast(timezone('UTC', occurred_at) as date), tenant_id, sum(cost_usd) "
        "from marts.fct_cost_ledger group by all having sum(cost_usd) is not null order by all",
    )
    daily = query(
        scenario,
        "select usage_date, tenant_id, sum(cost_usd) from marts.agg_usage_daily "
        "group by all having sum(cost_usd) is not null order by all",
    )
    assert ledger == daily


def test_readers_never_fail_nor_see_a_half_built_warehouse(scenario: Scenario) -> None:
    lines = scenario.reader_lines
    assert len(lines) > 20
    assert [line for line in lines if "error" in line] == []
    published = {(len(s["fct_events"]), len(s["fct_model_calls"])) for s in scenario.snapshots}
    for line in lines:
        events, events_in_runs, calls, calls_in_runs = line["ok"]
        assert events == events_in_runs and calls == calls_in_runs, line
        assert (events, calls) in published, line


def test_dbt_unit_tests_pass(scenario: Scenario) -> None:
    result = scenario.unit_tests
    assert result is not None and result.statuses.get("pass", 0) >= 6, result
    assert result.success, result.summary() + "\n" + result.output_tail


def test_an_orphan_row_fails_its_relationship_test_and_the_exit_status(
    scenario: Scenario, tmp_path: Path
) -> None:
    """The pruned relationship test (prune_on: occurred_at) still catches a call whose event is
    missing, and dbt's failure reaches the caller's exit status through
    orchestration.warehouse.dbt_main."""
    from orchestration.warehouse import build as warehouse

    base = tmp_path / "data"
    shutil.copytree(scenario.data_dir, base, ignore=shutil.ignore_patterns("target", "logs"))
    check = warehouse.dbt_command(base, command="test", select="fct_model_calls")

    proc, _ = warehouse.invoke_dbt(base, check)
    statuses, failures = warehouse._read_run_results(base)
    assert (proc.returncode, failures) == (0, []), proc.stdout[-2000:]
    assert statuses["pass"] >= 5

    con = duckdb.connect(str(warehouse.build_db_path(base)))
    try:  # a copy of one call under a new event id, as the latest write
        con.execute(
            """
            insert into marts.fct_model_calls
            select * replace ('mc_orphan' as model_call_id, 'evt_orphan' as event_id,
                              built_at + interval 1 second as built_at)
            from marts.fct_model_calls
            order by built_at desc, model_call_id
            limit 1
            """
        )
    finally:
        con.close()

    proc, _ = warehouse.invoke_dbt(base, check)
    statuses, failures = warehouse._read_run_results(base)
    assert proc.returncode == 1
    failed = sorted(f.split(":")[0].removeprefix("test.agentops_warehouse.") for f in failures)
    assert [name.rsplit(".", 1)[0] for name in failed] == [
        "assert_runs_add_up_to_model_calls",  # the call is not in its run's totals
        "assert_spans_and_workflows_add_up_to_runs",  # nor in any span
        "tenant_relationships_in_build_fct_model_calls_event_id__event_id__occurred_at__ref_fct_events_",
        "tenant_relationships_in_build_fct_model_calls_model_call_id__model_call_id__occurred_at__ref_stg_lake__model_calls_",
    ], failures
    assert statuses["fail"] == 4 and all("Got 1 result" in f for f in failures), failures

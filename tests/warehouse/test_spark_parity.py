"""The same dbt project on Spark: one lake built on DuckDB and on Spark publishes equal marts.

One story, built once for the module (Spark is slow to start, and every build is a process):

- the lake: generated telemetry of two tenants (failures, producer retries, models
  genai-prices does not know) plus the money rule's calls (a third tenant: every genai-prices
  model with tier cliffs, cache reads and writes, dated prices, off-peak windows, unknown
  models; tests/warehouse/test_pricing_money_rule.py);
- data dir D builds on DuckDB only; data dir S reads the same lake and quarantine (symlinks),
  builds on DuckDB first and then switches to Spark, which carries the ledger over;
- stages: `before` (first load, both on DuckDB), `full` (negotiated rates added to
  price_overrides.csv: every call of gpt-4o and of an unknown model repriced; S's first Spark
  build, a full refresh that carries the ledger over and books the reprices),
  `incremental` (a second load: new and late events, producer retries; Spark builds
  incrementally), and `back` (S switched back to DuckDB).

After each stage the published warehouse of each data dir is kept and compared: every table of
`marts` and `data_quality` equal row for row (timestamps compared as UTC instants; build
stamps excluded: built_at, booked_at, registered_at, closed_at, and budget_status's as_of,
pinned by `budget_as_of`).

The Spark builds leave dbt's data tests out to keep the suite's time: they test on Spark what
the row-for-row comparison with DuckDB's tested build already shows.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.files.loader import load_paths
from ingestion.synthetic.generator import GeneratorConfig, generate_lines, write_jsonl
from orchestration.warehouse import build as warehouse
from orchestration.warehouse import engine_switch
from orchestration.warehouse import spark as engine_spark
from tests.warehouse.pricing_support import copy_project
from tests.warehouse.test_ledger import OVERRIDES, call_cost
from tests.warehouse.test_pricing_money_rule import expected_cost, generate_calls

pytestmark = pytest.mark.slow

REQUIRE_ENV = "AGENTOPS_REQUIRE_SPARK"
PINNED = {"budget_as_of": "2026-11-20T12:00:00Z"}
STAMPS = {"built_at", "booked_at", "as_of", "registered_at", "closed_at"}
SCHEMAS = ("marts", "data_quality")
# The figures a budget period freezes at its close (int_budget_period_closes). A change of
# engine does not carry the closes over yet: S's first Spark build closes the past periods
# again, with the spend of then (the negotiated rates included), where D froze them at its
# first build. Every other column of the table (periods, status, spend now) is compared.
FROZEN_AT_CLOSE = {
    "marts.fct_budget_periods": {
        "limit_usd",
        "spend_at_close_usd",
        "adjustment_usd",
        "spend_of_record_usd",
        "pct_used",
        "is_over_limit",
    }
}
# Lines the loader quarantines (fct_quarantined_lines on both engines): bad JSON, a missing
# field, bytes that are not UTF-8 (kept as raw_b64), an escaped secret (redacted in raw).
BAD_LINES = [
    b'{"event_version": "0", "event_id": "broken',
    b'{"event_version": "0", "event_type": "run.started"}',
    b'{"event_id": "\xff\xfe not utf-8"}',
    b'{"event_version": "0", "event_id": "k", "error": {"message": "s\\u006b-proj-'
    + b"a" * 40
    + b'"}}',
]


def _spark_or_skip() -> None:
    reason = engine_spark.spark_unavailable_reason()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but Spark cannot run here: {reason}")
    pytest.skip(reason)


def _generate(folder: Path, seed: int, start: str, end: str, events: int) -> Path:
    from datetime import datetime

    first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    days = (last - first).days
    config = GeneratorConfig(
        start=first,
        end=last,
        seed=seed,
        tenants=2,
        runs_per_day=events / 14 / days * 1.3,  # about 14 events a run: spread over the days
        duplicate_rate=0.01,
        unknown_model_rate=0.05,
        max_events=events,
    )
    write_jsonl(generate_lines(config), folder, events_per_file=100_000)
    return folder


def _build(base: Path, engine: str, *, data_tests: bool = True) -> Path:
    result = warehouse.build(base, engine=engine, dbt_vars=PINNED, data_tests=data_tests)
    if not result.success or result.published_path is None:
        pytest.fail(f"{engine} build of {base}: {result.summary()}\n{result.output_tail}")
    return result.published_path


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """{stage: {"duckdb": published file of D, "spark": published file of S}}."""
    _spark_or_skip()
    tmp = tmp_path_factory.mktemp("spark-parity")
    project = copy_project(tmp / "dbt_project")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(warehouse, "DBT_PROJECT_DIR", project)
        duck, spark = tmp / "duck", tmp / "spark"
        duck.mkdir()
        spark.mkdir()
        for shared in ("lake", "quarantine"):
            (duck / shared).mkdir()
            (spark / shared).symlink_to(duck / shared)

        money = tmp / "in" / "money" / "calls.jsonl"
        money.parent.mkdir(parents=True)
        money.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generate_calls()))
        first = _generate(
            tmp / "in" / "first", 1, "2026-11-10T00:00:00+00:00", "2026-11-17T00:00:00+00:00", 9_000
        )
        bad = tmp / "in" / "bad.jsonl"
        bad.write_bytes(b"\n".join(BAD_LINES) + b"\n")
        assert load_paths([money, first, bad], duck, final=True).quarantined == len(BAD_LINES)

        out: dict[str, dict[str, Path]] = {}

        def keep(stage: str, engine_dir: Path, published: Path) -> None:
            kept = tmp / f"{stage}-{engine_dir.name}.duckdb"
            shutil.copyfile(published, kept)
            out.setdefault(stage, {})[engine_dir.name] = kept

        keep("before", duck, _build(duck, "duckdb"))
        _build(spark, "duckdb")
        keep("before-switch", spark, spark / "warehouse.duckdb")

        # Negotiated rates: every call of gpt-4o and of an unknown model repriced. S's first
        # Spark build carries the ledger over and reprices it in the same (full) build.
        (project / "seeds" / "price_overrides.csv").write_text(OVERRIDES)
        keep("full", duck, _build(duck, "duckdb"))
        keep("full", spark, _build(spark, "spark", data_tests=False))

        # New events, late events of the first days, and producer retries of the first load.
        second = _generate(
            tmp / "in" / "second",
            2,
            "2026-11-14T00:00:00+00:00",
            "2026-11-19T00:00:00+00:00",
            3_000,
        )
        retries = tmp / "in" / "retries.jsonl"
        retries.write_bytes(
            b"".join(first.glob("*.jsonl").__next__().read_bytes().splitlines(True)[:50])
        )
        assert load_paths([second, retries], duck, final=True).quarantined == 0
        keep("incremental", duck, _build(duck, "duckdb"))
        keep("incremental", spark, _build(spark, "spark", data_tests=False))

        keep("back", spark, _build(spark, "duckdb", data_tests=False))
        assert engine_switch.last_engine(spark) == "duckdb"
    return out


def _tables(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "select schema_name || '.' || table_name, column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name in ? order by schema_name, table_name, "
        "column_index",
        [db, list(SCHEMAS)],
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for table, column, data_type in rows:
        out[table].append((column, data_type))
    return dict(out)


def _differences(a: Path, b: Path) -> dict[str, object]:
    """Per table: what differs between two published warehouses (empty when equal)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        tables_a, tables_b = _tables(con, "a"), _tables(con, "b")
        diffs: dict[str, object] = {}
        if set(tables_a) != set(tables_b):
            diffs["tables"] = sorted(set(tables_a) ^ set(tables_b))
        for table in sorted(set(tables_a) & set(tables_b)):
            if tables_a[table] != tables_b[table]:
                diffs[table] = ("columns", tables_a[table], tables_b[table])
                continue
            left_out = STAMPS | FROZEN_AT_CLOSE.get(table, set())
            cols = ", ".join(c for c, _ in tables_a[table] if c not in left_out)
            only = [
                con.execute(
                    f"select * from (select {cols} from {x}.{table} "
                    f"except all select {cols} from {y}.{table}) limit 3"
                ).fetchall()
                for x, y in (("a", "b"), ("b", "a"))
            ]
            if only[0] or only[1]:
                diffs[table] = only
        return diffs
    finally:
        con.close()


@pytest.mark.parametrize("stage", ["full", "incremental"])
def test_every_table_equal_on_both_engines(stages, stage: str) -> None:
    assert _differences(stages[stage]["duck"], stages[stage]["spark"]) == {}


def test_marts_are_not_empty(stages) -> None:
    with duckdb.connect(str(stages["incremental"]["spark"]), read_only=True) as con:
        counts = dict(
            con.execute(
                "select table_name, estimated_size from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        )
        assert counts.keys() >= {
            "fct_events", "fct_runs", "fct_model_calls", "fct_cost_ledger", "agg_usage_hourly",
            "agg_usage_daily", "fct_failures", "fct_policy_decisions", "budget_status",
            "fct_alerts", "fct_spans", "fct_loads", "fct_quarantined_lines",
            "agg_workflow_runs_hourly",
        }  # fmt: skip
        for table in ("fct_events", "fct_runs", "fct_model_calls", "fct_cost_ledger"):
            assert con.execute(f"select count(*) from marts.{table}").fetchone()[0] > 1000
        tenants = con.execute("select count(distinct tenant_id) from marts.fct_events").fetchone()
        assert tenants == (3,)
        statuses = dict(
            con.execute(
                "select price_status, count(*) from marts.fct_model_calls group by all"
            ).fetchall()
        )
        assert statuses["unpriced"] > 0 and statuses["priced"] > 0
        assert con.execute("select count(*) from marts.fct_failures").fetchone()[0] > 100
        dupes = con.execute("select count(*) from data_quality.dq_duplicate_events").fetchone()
        assert dupes[0] >= 50
        quarantined = con.execute(
            "select reason_code, line_no, raw_excerpt is null, raw_excerpt like '%REDACTED%' "
            "from marts.fct_quarantined_lines order by line_no"
        ).fetchall()
        assert [(q[1], q[2]) for q in quarantined] == [
            (1, False),
            (2, False),
            (3, False),
            (4, False),
        ]
        assert quarantined[3][3] is True
        loads = con.execute(
            "select count(*), sum(quarantined_lines) from marts.fct_loads"
        ).fetchone()
        assert loads == (2, len(BAD_LINES))
        kinds = {
            k for (k,) in con.execute("select distinct span_kind from marts.fct_spans").fetchall()
        }
        assert kinds >= {"run", "step", "model_call", "tool_call", "policy"}


def _cost_per_call(path: Path) -> dict[tuple[str, str], Decimal | None]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select tenant_id, model_call_id, cost_usd from marts.fct_model_calls"
        ).fetchall()
    return {(t, c): cost for t, c, cost in rows}


def _cost_per_tenant_day(path: Path) -> dict[tuple[str, object], Decimal]:
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            "select tenant_id, cast(occurred_at as date), sum(cost_usd) "
            "from marts.fct_cost_ledger group by all"
        ).fetchall()
    return {(t, d): cost for t, d, cost in rows}


@pytest.mark.parametrize("stage", ["full", "incremental"])
def test_cost_equal_per_call_and_per_tenant_day(stages, stage: str) -> None:
    duck, spark = stages[stage]["duck"], stages[stage]["spark"]
    per_call = _cost_per_call(spark)
    assert per_call == _cost_per_call(duck)
    assert any(cost is None for cost in per_call.values()), "unpriced calls stay NULL"
    per_day = _cost_per_tenant_day(spark)
    assert per_day == _cost_per_tenant_day(duck)
    assert {tenant for tenant, _ in per_day} == {t for t, _ in per_call}


def test_budgets_equal(stages) -> None:
    query = (
        "select budget_period_id, tenant_id, period_start, spend_usd, pct_used, "
        "thresholds_crossed, forecast_usd, alert_dedupe_key from marts.budget_status order by 1"
    )
    rows = []
    for engine in ("duck", "spark"):
        with duckdb.connect(str(stages["incremental"][engine]), read_only=True) as con:
            rows.append(con.execute(query).fetchall())
    assert rows[0] == rows[1]
    assert any(r[3] > 0 for r in rows[1]), "some budget has spend in the window"


def test_money_rule_on_spark(stages) -> None:
    """Spark prices every call of the money rule's corpus exactly as calc_price does (the
    negotiated rates' models as the override says: test_reprice_after_override_on_spark)."""
    with duckdb.connect(str(stages["full"]["spark"]), read_only=True) as con:
        rows = con.execute(
            "select provider, model, occurred_at, input_tokens, output_tokens, cached_tokens, "
            "cache_write_tokens, price_status, cost_usd, "
            # Under the negotiated rates (OVERRIDES): gpt-4o however named, the unknown model.
            "  coalesce(price_model_id = 'gpt-4o' or lower(trim(model)) = 'no-such-model-xyz', "
            "  false) "
            "from marts.fct_model_calls where tenant_id = 't-money'"
        ).fetchall()
    assert len(rows) == len(generate_calls())
    wrong = []
    overridden = sum(r[-1] for r in rows)
    rows = [r[:-1] for r in rows if not r[-1]]
    assert overridden > 0 and len(rows) > 100
    for provider, model, at, inp, out, cached, write, status, cost in rows:
        expected, _ = expected_cost(provider, model, at, inp, out, cached, write)
        if expected is None:
            if (status, cost) != ("unpriced", None):
                wrong.append((provider, model, status, cost))
        elif (status, cost) != ("priced", expected):
            wrong.append((provider, model, at, inp, out, cached, write, expected, cost))
    assert not wrong[:10], f"{len(wrong)} calls priced differently, first: {wrong[:10]}"


def test_reprice_after_override_on_spark(stages) -> None:
    """The override reprices gpt-4o and prices the unknown model on Spark, in the build that
    switched S to Spark: one entry each, earlier entries unchanged."""
    query = (
        "select tenant_id, model_call_id, model, reason, cost_usd, price_book_version, "
        "ledger_entry_id from marts.fct_cost_ledger"
    )
    with duckdb.connect(str(stages["before-switch"]["spark"]), read_only=True) as con:
        before = con.execute(query).fetchall()
    with duckdb.connect(str(stages["full"]["spark"]), read_only=True) as con:
        after = con.execute(query).fetchall()
        calls = {
            (t, c): (p, m, at, tuple(usage))
            for t, c, p, m, at, *usage in con.execute(
                "select tenant_id, model_call_id, provider, model, occurred_at, input_tokens, "
                "output_tokens, cached_tokens, cache_write_tokens from marts.fct_model_calls"
            ).fetchall()
        }
    assert set(before) <= set(after), "earlier entries never change"
    new = [row for row in after if row not in set(before)]
    assert {row[3] for row in new} == {"usage", "reprice"}
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for tenant, call, _, _, cost, _, _ in after:
        sums[tenant, call] += cost or 0
    for tenant, call, *_ in new:
        assert sums[tenant, call] == call_cost(*calls[tenant, call], overrides=True), (tenant, call)


def test_ledger_carried_over_between_engines(stages) -> None:
    """Switching S to Spark kept DuckDB's entries as booked (booked_at included), adding only
    the reprices of the new rates; switching back kept Spark's entries, the reprices
    included, and booked nothing anew."""
    query = "select * from marts.fct_cost_ledger order by ledger_entry_id"
    ledgers = {}
    for stage in ("before-switch", "full", "incremental", "back"):
        with duckdb.connect(str(stages[stage]["spark"]), read_only=True) as con:
            cursor = con.execute(query)
            reason = [d[0] for d in cursor.description].index("reason")
            ledgers[stage] = cursor.fetchall()
    kept = set(ledgers["before-switch"])
    assert len(kept) > 1000
    assert kept <= set(ledgers["full"])
    reasons = {row[reason] for row in ledgers["full"] if row not in kept}
    assert reasons == {"usage", "reprice"}, reasons
    assert ledgers["back"] == ledgers["incremental"]


def test_spark_warehouse_has_descriptions(stages) -> None:
    with duckdb.connect(str(stages["full"]["spark"]), read_only=True) as con:
        table = con.execute(
            "select comment from duckdb_tables() where schema_name = 'marts' "
            "and table_name = 'fct_cost_ledger'"
        ).fetchone()
        column = con.execute(
            "select comment from duckdb_columns() where schema_name = 'marts' "
            "and table_name = 'fct_cost_ledger' and column_name = 'cost_usd'"
        ).fetchone()
    assert table[0].startswith("The cost ledger, one row per ledger entry")
    assert column[0].startswith("USD of this entry")

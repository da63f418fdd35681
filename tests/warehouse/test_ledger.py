"""The cost ledger through real builds: append-only, compensating entries, sums per call.

One story on a private copy of the dbt project (so price_overrides.csv can change):

1. first build: one entry per call, 'usage' or 'unpriced';
2. negotiated rates (an override on gpt-4o, one on a model genai-prices does not know):
   exactly one compensating 'reprice' per gpt-4o call whose price changed, a 'usage' booking
   for each call booked unpriced; a rebuild appends nothing;
3. a second load: only the new calls are booked;
4. the overrides are removed: the gpt-4o calls go back to list price, the unknown model's
   calls are reversed to 0 and booked 'unpriced' again (NULL, beside the reversal).

After every step the entries of each call sum to its price, computed here independently: with
genai-prices' calc_price for list prices, and with plain Decimal arithmetic for the overrides.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import genai_prices
import pytest
from genai_prices import Usage

from ingestion.files.loader import load_paths
from orchestration.warehouse import build as warehouse
from tests.orchestration.test_exports import check_exports
from tests.warehouse.fixtures import make_fixture
from tests.warehouse.pricing_support import build_warehouse, copy_project

pytestmark = pytest.mark.slow

OVERRIDES_HEADER = "provider_id,model_id,valid_from,price_key,tier_start,price_usd\n"
# gpt-4o at a negotiated 2 / 8 USD per MTok; the keys it leaves out (cache reads) are inherited
# from genai-prices.
GPT_4O_DEAL = {"input_mtok": Decimal("2"), "output_mtok": Decimal("8")}
# A model genai-prices does not know, priced by the exact strings the producer sends.
UNKNOWN_DEAL = {"input_mtok": Decimal("0.5"), "output_mtok": Decimal("1.5")}
OVERRIDES = OVERRIDES_HEADER + "".join(
    [f"openai,gpt-4o,,{key},,{price}\n" for key, price in GPT_4O_DEAL.items()]
    + [f"OpenAI,No-Such-Model-XYZ,,{key},,{price}\n" for key, price in UNKNOWN_DEAL.items()]
)


def deal_cost(deal: dict[str, Decimal], inp: int, out: int) -> Decimal:
    return (inp * deal["input_mtok"] + out * deal["output_mtok"]) / Decimal(1_000_000)


def call_cost(
    provider: str,
    model: str,
    at: datetime,
    usage: tuple[int, int, int, int],
    overrides: bool,
) -> Decimal | None:
    """One call's price from its (input, output, cached, cache write) tokens, in Python."""
    inp, outp, cached, write = usage
    if overrides and model == "no-such-model-xyz":
        return deal_cost(UNKNOWN_DEAL, inp, outp)
    tokens = Usage(
        input_tokens=inp, output_tokens=outp, cache_read_tokens=cached, cache_write_tokens=write
    )
    try:
        calc = genai_prices.calc_price(
            tokens, model_ref=model, provider_id=provider, genai_request_timestamp=at
        )
    except LookupError:
        return None
    if overrides and calc.model.id == "gpt-4o":
        # genai-prices' own price for the call with the deal's keys replaced: the keys the
        # deal leaves out (cache reads) are inherited
        deal = copy.copy(calc.model_price)
        for key, price in GPT_4O_DEAL.items():
            setattr(deal, key, price)
        return deal.calc_price(tokens)["total_price"]
    return calc.total_price


def expected_costs(con: duckdb.DuckDBPyConnection, overrides: bool) -> dict[str, Decimal | None]:
    """Each call's price, computed in Python from the staged usage (not from the SQL)."""
    calls = con.sql(
        "select model_call_id, provider, model, occurred_at, input_tokens, output_tokens, "
        "cached_tokens, cache_write_tokens from staging.stg_lake__model_calls"
    ).fetchall()
    return {
        call_id: call_cost(provider, model, at, tuple(usage), overrides)
        for call_id, provider, model, at, *usage in calls
    }


def ledger(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.sql(
        "select ledger_entry_id, model_call_id, reason, cost_usd, price_book_version, booked_at "
        "from marts.fct_cost_ledger"
    ).fetchall()


def assert_balanced(entries: list[tuple], expected: dict[str, Decimal | None]) -> None:
    """The entries of each call sum to its price (0 when it has lost its price)."""
    sums: dict[str, Decimal | None] = {}
    for _, call_id, _, cost, _, _ in entries:
        if cost is not None:
            sums[call_id] = (sums.get(call_id) or Decimal(0)) + cost
        else:
            sums.setdefault(call_id, None)
    assert set(sums) == set(expected)
    wrong = {
        c: (sums[c], price)
        for c, price in expected.items()
        if (price is not None and sums[c] != price) or (price is None and sums[c] not in (None, 0))
    }
    assert not wrong, wrong


def test_ledger_books_differences_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = copy_project(tmp_path / "dbt_project")
    # The real build, on the copy: its overrides seed is ours to edit.
    monkeypatch.setattr(warehouse, "DBT_PROJECT_DIR", project)
    overrides = project / "seeds" / "price_overrides.csv"
    assert overrides.read_text() == OVERRIDES_HEADER, "the repo's overrides seed must be empty"
    data_dir = tmp_path / "data"
    first_load, second_load = make_fixture(seed=11, runs=80).write(tmp_path / "events")
    db = data_dir / "warehouse.duckdb"

    def build_ledger() -> None:
        assert build_warehouse(data_dir) == db

    # 1. First build.
    load_paths([first_load], data_dir, final=True)
    build_ledger()
    with duckdb.connect(str(db), read_only=True) as con:
        first = ledger(con)
        expected_list = expected_costs(con, overrides=False)
        column_types = dict(
            con.sql(
                "select column_name, column_type from (describe marts.fct_cost_ledger)"
            ).fetchall()
        )
    assert column_types["cost_usd"] == "DECIMAL(38,24)"
    assert len(first) == len(expected_list), "one entry per call"
    reasons = Counter(e[2] for e in first)
    assert reasons["usage"] == sum(p is not None for p in expected_list.values())
    assert reasons["unpriced"] == sum(p is None for p in expected_list.values()) > 0
    assert all(e[3] is None for e in first if e[2] == "unpriced")
    assert {e[4] for e in first} == {"genai-prices-0.2.3+none"}
    assert_balanced(first, expected_list)

    # 2. Negotiated rates.
    overrides.write_text(OVERRIDES)
    build_ledger()
    with duckdb.connect(str(db), read_only=True) as con:
        after_deal = ledger(con)
        expected_deal = expected_costs(con, overrides=True)
    assert after_deal[: len(first)] == first, "append-only: earlier entries never change"
    new = after_deal[len(first) :]
    changed = {c for c, p in expected_deal.items() if p != expected_list[c]}
    assert changed, "the override must change some prices"
    assert sorted(e[1] for e in new) == sorted(changed), "exactly one entry per changed call"
    for _, call_id, reason, cost, version, _ in new:
        before, now = expected_list[call_id], expected_deal[call_id]
        assert version.startswith("genai-prices-0.2.3+") and not version.endswith("+none")
        if before is None:
            assert (reason, cost) == ("usage", now)
        else:
            assert (reason, cost) == ("reprice", now - before)
    assert {e[2] for e in new} == {"usage", "reprice"}
    assert_balanced(after_deal, expected_deal)

    build_ledger()
    with duckdb.connect(str(db), read_only=True) as con:
        assert ledger(con) == after_deal, "a rebuild with no new data appends nothing"

    # 3. New calls arrive: only they are booked.
    load_paths([second_load], data_dir, final=True)
    build_ledger()
    with duckdb.connect(str(db), read_only=True) as con:
        after_load = ledger(con)
        expected_load = expected_costs(con, overrides=True)
    new = after_load[len(after_deal) :]
    arrived = set(expected_load) - set(expected_deal)
    assert arrived and sorted(e[1] for e in new) == sorted(arrived)
    assert {e[2] for e in new} == {"usage", "unpriced"} or {e[2] for e in new} == {"usage"}
    assert all(e[2] == "usage" for e in new if expected_load[e[1]] is not None)
    assert_balanced(after_load, expected_load)

    # 4. The deals end.
    overrides.write_text(OVERRIDES_HEADER)
    build_ledger()
    with duckdb.connect(str(db), read_only=True) as con:
        final = ledger(con)
        expected_final = expected_costs(con, overrides=False)
        version = con.sql("select price_book_version from intermediate.int_price_book_version")
        assert version.fetchall() == [("genai-prices-0.2.3+none",)]
    new = final[len(after_load) :]
    changed = {c for c, p in expected_final.items() if p != expected_load[c]}
    lost = {c for c in changed if expected_final[c] is None}
    assert lost, "the unknown model's calls lose their price"
    # one reprice per changed call, and an 'unpriced' entry beside each reversal
    assert sorted(e[1] for e in new) == sorted([*changed, *lost])
    for _, call_id, reason, cost, _, _ in new:
        before, now = expected_load[call_id], expected_final[call_id]
        if reason == "unpriced":
            assert call_id in lost and cost is None
        else:
            assert reason == "reprice"
            assert cost == (now or 0) - before
    assert_balanced(final, expected_final)
    assert len({e[0] for e in final}) == len(final), "ledger_entry_id is unique"
    # The exports of this ledger (its reprices included), without a build of their own.
    check_exports(db, tmp_path)
    print(
        f"\nledger: {len(first)} first entries, {len(after_deal) - len(first)} after the deal, "
        f"{len(after_load) - len(after_deal)} for {len(arrived)} new calls, "
        f"{len(final) - len(after_load)} when the deal ended ({len(lost)} reversals)"
    )

"""The money rule (README, "Cost"), call by call.

Generates >= 10,000 model calls over every (provider, model) genai-prices knows plus dated
aliases, provider aliases, Azure/LiteLLM fallbacks and unknown models; crafts usage and
timestamps that hit every pricing rule (tier cliffs on both sides, cache reads and writes,
start dates at midnight, off-peak windows at their edges); loads them with the real loader,
builds the warehouse with dbt, and checks that every call's cost_usd equals
`genai_prices.calc_price(...).total_price` exactly (Decimal equality, not a tolerance), and that
every call calc_price cannot price (LookupError) is 'unpriced' with a NULL cost.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random

import duckdb
import genai_prices
import orjson
import pytest
from genai_prices import Usage, data_snapshot, types

from ingestion.files.loader import load_paths
from ingestion.settings import DBT_PROJECT_DIR
from tests.warehouse.pricing_support import build_warehouse

pytestmark = pytest.mark.slow

WINDOW_START = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 24, tzinfo=UTC)  # before "now": the loader rejects the future

# Producer strings genai-prices resolves in some non-trivial way, and some it cannot.
ALIASES = [
    ("openai", "gpt-4o-2024-08-06"),  # dated snapshot -> gpt-4o
    ("openai", "GPT-4o-Mini"),  # case
    ("OpenAI", "gpt-4o-mini-2024-07-18"),
    ("azure", "gpt-4o"),  # fallback provider -> openai
    ("azure", "gpt-4.1-mini"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("google-vertex", "gemini-2.5-pro"),  # provider_match -> google
    ("google", "claude-sonnet-4@20250514"),  # google falls back to anthropic
    ("xai", "grok-4"),  # provider_match -> x-ai
    ("litellm", "openai/gpt-4o"),  # LiteLLM provider/model refs
    ("openai", "gpt-5.2-20251211"),  # compact date normalised by genai-prices
    ("deepseek", "deepseek-chat"),
    ("deepseek", "deepseek-reasoner"),
    ("deepseek", "deepseek-v4-flash"),
    ("openrouter", "google/gemini-3.8-flash"),
    ("openrouter", "qwen/qwen3.7-flash"),
]
UNKNOWN = [
    ("openai", "no-such-model-xyz"),
    ("in-house", "llama-3-finetune"),
    ("acme-llm", "gpt-4o"),
    ("anthropic", "claude-0"),
]


def _conditional_prices(info: types.ModelInfo) -> list[tuple[object, types.ModelPrice]]:
    if isinstance(info.prices, types.ModelPrice):
        return [(None, info.prices)]
    return [(cp.constraint, cp.prices) for cp in info.prices]


def _tier_starts(info: types.ModelInfo) -> list[int]:
    starts = set()
    for _, model_price in _conditional_prices(info):
        for value in model_price.__dict__.values():
            if isinstance(value, types.TieredPrices):
                starts.update(t.start for t in value.tiers)
    return sorted(starts)


def _edge_times(info: types.ModelInfo) -> list[datetime]:
    """Timestamps at the edges of the model's conditions (inclusive start, exclusive end)."""
    us = timedelta(microseconds=1)
    out: list[datetime] = []
    for constraint, _ in _conditional_prices(info):
        if isinstance(constraint, types.StartDateConstraint):
            midnight = datetime.combine(constraint.start_date, time(0), tzinfo=UTC)
            if WINDOW_START < midnight < WINDOW_END:
                out += [midnight, midnight - us]
        elif isinstance(constraint, types.TimeOfDateConstraint):
            for day in (date(2026, 9, 15), date(2026, 11, 12)):
                for t in (constraint.start_time, constraint.end_time):
                    edge = datetime.combine(day, t.replace(tzinfo=None), tzinfo=UTC)
                    out += [edge, edge - us, edge + us]
    return out


def _random_time(rng: Random) -> datetime:
    span = int((WINDOW_END - WINDOW_START).total_seconds() * 1_000_000)
    return WINDOW_START + timedelta(microseconds=rng.randrange(span))


def _usage(rng: Random, tier_starts: list[int]) -> tuple[int, int, int, int]:
    roll = rng.random()
    if tier_starts and roll < 0.5:
        start = rng.choice(tier_starts)
        inp = max(0, start + rng.choice([-1, 0, 1, 2, start // 3]))
    elif roll < 0.05:
        inp = 0
    else:
        inp = int(10 ** rng.uniform(0, 5.6))  # up to ~400k tokens
    cached = rng.randint(0, inp) if rng.random() < 0.5 else 0
    cache_write = rng.randint(0, inp - cached) if rng.random() < 0.4 else 0
    out = 0 if rng.random() < 0.05 else int(10 ** rng.uniform(0, 4.3))
    return inp, out, cached, cache_write


def generate_calls(seed: int = 20261125) -> list[dict]:
    """Model call events covering every genai-prices model and the edges of its prices."""
    rng = Random(seed)
    snapshot = data_snapshot.get_snapshot()
    plan: list[tuple[str, str, datetime | None, list[int]]] = []
    for provider in snapshot.providers:
        for info in provider.models:
            starts = _tier_starts(info)
            for _ in range(4):
                plan.append((provider.id, info.id, None, starts))
            for edge in _edge_times(info):
                plan.append((provider.id, info.id, edge, starts))
    for provider_id, model in ALIASES:
        try:
            _, info = snapshot.find_provider_model(model, None, provider_id, None)
            starts = _tier_starts(info)
            edges = _edge_times(info)
        except LookupError:
            starts, edges = [], []
        plan += [(provider_id, model, None, starts)] * 40
        plan += [(provider_id, model, edge, starts) for edge in edges]
    for provider_id, model in UNKNOWN:
        plan += [(provider_id, model, None, [])] * 25
    # Off-peak prices all day long: one call every 7 minutes and 13 seconds for two days.
    t = datetime(2026, 11, 10, tzinfo=UTC)
    while t < datetime(2026, 11, 12, tzinfo=UTC):
        model = rng.choice(["deepseek-chat", "deepseek-reasoner", "deepseek-v4-flash"])
        plan.append(("deepseek", model, t, []))
        t += timedelta(minutes=7, seconds=13)

    events = []
    for i, (provider_id, model, at, starts) in enumerate(plan):
        inp, out, cached, cache_write = _usage(rng, starts)
        at = at or _random_time(rng)
        failed = rng.random() < 0.05
        event = {
            "event_version": "0",
            "event_id": f"money-{i:06d}",
            "event_type": "model_call.failed" if failed else "model_call.completed",
            "occurred_at": at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "tenant": {"tenant_id": "t-money", "workspace_id": "w1", "project_id": "p1"},
            "run": {"run_id": f"run-{i // 8:05d}", "agent_id": "pricing-agent"},
            "trace": {"trace_id": f"{i + 1:032x}", "span_id": f"{i + 1:016x}"},
            "model_call": {
                "model_call_id": f"call-{i:06d}",
                "provider": provider_id,
                "model": model,
            },
            "resource_usage": {
                "input_tokens": inp,
                "output_tokens": out,
                "cached_tokens": cached,
                "cache_write_tokens": cache_write,
            },
        }
        event["trace"]["parent_span_id"] = None
        if failed:
            event["error"] = {"code": "timeout", "message": "provider timed out"}
        events.append(event)
    return events


def expected_cost(
    provider: str, model: str, at: datetime, inp: int, out: int, cached: int, write: int
) -> tuple[Decimal | None, types.PriceCalculation | None]:
    usage = Usage(
        input_tokens=inp, output_tokens=out, cache_read_tokens=cached, cache_write_tokens=write
    )
    try:
        calc = genai_prices.calc_price(
            usage, model_ref=model, provider_id=provider, genai_request_timestamp=at
        )
    except LookupError:
        return None, None
    return calc.total_price, calc


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published warehouse built (`agentops-wh build`) from the generated calls."""
    tmp = tmp_path_factory.mktemp("money")
    data_dir = tmp / "data"
    events = generate_calls()
    source = tmp / "calls.jsonl"
    source.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    summary = load_paths([source], data_dir, final=True)
    assert summary.accepted == len(events), summary.as_dict()
    return build_warehouse(data_dir)


@pytest.fixture(scope="module")
def priced_calls(built: Path) -> list[tuple]:
    """(call id, provider, model, occurred_at, tokens..., status, cost, resolved ids) per call."""
    with duckdb.connect(str(built), read_only=True) as con:
        column_types = dict(
            con.sql(
                "select column_name, column_type "
                "from (describe intermediate.int_model_calls_priced)"
            ).fetchall()
        )
        assert column_types["cost_usd"] == "DECIMAL(38,24)"
        rows = con.sql(
            """
            select c.model_call_id, c.provider, c.model, c.occurred_at, c.input_tokens,
                   c.output_tokens, c.cached_tokens, c.cache_write_tokens,
                   p.price_status, p.cost_usd, p.price_provider_id, p.price_model_id
            from staging.stg_lake__model_calls as c
            inner join intermediate.int_model_calls_priced as p using (model_call_id)
            order by c.model_call_id
            """
        ).fetchall()
    assert len(rows) == len(generate_calls())
    return rows


def test_every_call_costs_what_calc_price_says(priced_calls: list[tuple]) -> None:
    mismatches = []
    coverage: Counter[str] = Counter()
    pairs = set()
    for row in priced_calls:
        call_id, provider, model, at, inp, out, cached, write, status, cost, _, _ = row
        pairs.add((provider, model))
        expected, calc = expected_cost(provider, model, at, inp, out, cached, write)
        if expected is None:
            coverage["unpriced"] += 1
            if status != "unpriced" or cost is not None:
                mismatches.append((call_id, provider, model, "expected unpriced", status, cost))
            continue
        coverage["priced"] += 1
        if status != "priced" or cost != expected:
            mismatches.append(
                (call_id, provider, model, at, inp, out, cached, write, expected, cost)
            )
        assert calc is not None
        conditions = _conditional_prices(calc.model)
        index = next(i for i, (_, mp) in enumerate(conditions) if mp is calc.model_price)
        constraint = conditions[index][0]
        if isinstance(constraint, types.TimeOfDateConstraint):
            coverage["time-of-day price"] += 1
        if isinstance(constraint, types.StartDateConstraint):
            coverage["start-date price"] += 1
        if index == 0 and len(conditions) > 1:
            coverage["first of several prices"] += 1
        starts = [
            t.start
            for v in calc.model_price.__dict__.values()
            if isinstance(v, types.TieredPrices)
            for t in v.tiers
        ]
        if starts and inp > min(starts):
            coverage["tier price"] += 1
        if starts and inp in starts:
            coverage["exactly at a tier start"] += 1
        if inp > 200_000:
            coverage["over 200k input"] += 1
        if cached and calc.model_price.cache_read_mtok is not None:
            coverage["cache read priced"] += 1
        if cached and calc.model_price.cache_read_mtok is None:
            coverage["cache read billed as input"] += 1
        if write and calc.model_price.cache_write_mtok is not None:
            coverage["cache write priced"] += 1
        if write and calc.model_price.cache_write_mtok is None:
            coverage["cache write billed as input"] += 1
        if cost == 0:
            coverage["priced at 0"] += 1
        if calc.model.id != model:
            coverage["resolved to another id"] += 1
    print(f"\n{len(priced_calls)} calls, {len(pairs)} (provider, model) pairs, coverage:")
    for key, value in sorted(coverage.items()):
        print(f"  {key}: {value}")
    print(f"  mismatches: {len(mismatches)}")
    assert not mismatches[:20], f"{len(mismatches)} mismatches, first: {mismatches[:20]}"
    assert len(priced_calls) >= 10_000
    assert len(pairs) >= 2_000
    for key in (
        "time-of-day price",
        "start-date price",
        "first of several prices",
        "tier price",
        "exactly at a tier start",
        "over 200k input",
        "cache read priced",
        "cache read billed as input",
        "cache write priced",
        "cache write billed as input",
        "resolved to another id",
        "unpriced",
    ):
        assert coverage[key] >= 20, (key, coverage[key])


def test_aliases_resolve_like_genai_prices(priced_calls: list[tuple]) -> None:
    resolved = {(r[1], r[2]): (r[10], r[11]) for r in priced_calls}
    assert resolved[("openai", "gpt-4o-2024-08-06")] == ("openai", "gpt-4o")
    assert resolved[("azure", "gpt-4o")] == ("openai", "gpt-4o")
    assert resolved[("litellm", "openai/gpt-4o")] == ("openai", "gpt-4o")
    assert resolved[("openai", "no-such-model-xyz")] == (None, None)


def test_seeds_load_exactly(built: Path) -> None:
    """Every price in the seed CSV arrives in DuckDB digit for digit (no float on the way)."""
    with open(DBT_PROJECT_DIR / "seeds" / "price_book_prices.csv", newline="") as fh:
        expected = {
            (r["provider_id"], r["model_id"], int(r["price_index"]), r["price_key"])
            + (int(r["tier_start"]),): (
                Decimal(r["price_usd"]),
                Decimal(r["unit_price_usd"]) if r["unit_price_usd"] else None,
            )
            for r in csv.DictReader(fh)
        }
    with duckdb.connect(str(built), read_only=True) as con:
        rows = con.sql(
            "select provider_id, model_id, price_index, price_key, tier_start, price_usd, "
            "unit_price_usd from seeds.price_book_prices"
        ).fetchall()
    assert {r[:5]: (r[5], r[6]) for r in rows} == expected

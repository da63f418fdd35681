"""`agentops-wh pricebook`: the price book seeds, exported from the pinned genai-prices data.

The warehouse prices model calls in SQL from three dbt seeds written here:

- `price_book_source.csv`: the package and version the book was exported from.
- `price_book_conditions.csv`: one row per conditional price of a model, i.e. per entry of
  genai-prices' `ModelInfo.prices` (a plain `ModelPrice` is index 0 with no condition). A
  condition is an optional `starts_on` (`StartDateConstraint`, UTC date) or an optional UTC
  time-of-day window `active_from_time` <= t < `active_until_time` (wrapping past midnight when
  until < from; `TimeOfDateConstraint`). For a call, the active condition with the highest
  `price_index` wins, and index 0 when none is active, exactly as `ModelInfo.get_prices` does.
  Conditions without any price (179 in genai-prices 0.2.3: free or non-token models) are kept:
  genai-prices prices such a call at 0, and so must we.
- `price_book_prices.csv`: one row per condition, price key and tier. `tier_start` is -1 for the
  base price; a tier applies to all units of its key once the call's input tokens exceed its
  start (genai-prices' cliff tiers). `price_usd` is the price as published (per `unit_per`
  units: per million tokens, per thousand requests, ...); `unit_price_usd` is the exact price
  of one unit, DECIMAL(38, 24), so that SQL multiplies and never divides (in DuckDB a DECIMAL
  division yields a DOUBLE).

Every price key of the package is exported so the book is complete, but the ledger only counts
the units our events report: input, output, cache-read and cache-write tokens (and one request
per call for `requests_kcount`). Audio, image, video, document, search, character and duration
units, and the finer token kinds (`cache_write_1h_mtok`, `output_reasoning_mtok`, ...) have a
count of zero for our usage, exactly as genai-prices computes them, so they contribute nothing.
`unit_price_usd` is NULL for the per-hour units, whose per-second price is not a finite decimal.
`check_leaf_rule` proves, for every conditional price of the package, that the four-count rule the
SQL implements (model int_model_calls_priced) gives genai-prices' own unit counts.

Price variants (`ModelInfo.price_variants`) need a request context such as a service tier;
`calc_price` without one ignores them, and so does the book.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import sys
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingestion.settings import DBT_PROJECT_DIR

SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
PACKAGE = "genai-prices"

SOURCE_COLUMNS = ["package_name", "package_version"]
CONDITION_COLUMNS = [
    "provider_id",
    "model_id",
    "price_index",
    "starts_on",
    "active_from_time",
    "active_until_time",
]
PRICE_COLUMNS = [
    "provider_id",
    "model_id",
    "price_index",
    "price_key",
    "tier_start",
    "price_usd",
    "unit_per",
    "unit_price_usd",
]
BASE_TIER_START = -1
PRICE_SCALE = 18  # DECIMAL(38, 18) for prices as published
UNIT_PRICE_SCALE = 24  # DECIMAL(38, 24) for prices of one unit

# The usage our events report, and the price keys whose unit counts come from it.
COUNTED_PRICE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "requests_kcount",
)


class PriceBookError(Exception):
    """The pinned package holds something the SQL price book cannot represent exactly."""


@dataclass(frozen=True)
class PriceBook:
    """The three seed tables, as rows of strings ready for CSV."""

    source: list[dict[str, str]]
    conditions: list[dict[str, str]]
    prices: list[dict[str, str]]

    def files(self) -> dict[str, str]:
        """Seed file name -> CSV text."""
        return {
            "price_book_source.csv": _csv(SOURCE_COLUMNS, self.source),
            "price_book_conditions.csv": _csv(CONDITION_COLUMNS, self.conditions),
            "price_book_prices.csv": _csv(PRICE_COLUMNS, self.prices),
        }


def decimal_text(value: Decimal, max_scale: int, what: str) -> str:
    """Plain (no exponent) text of a finite decimal that fits `max_scale` decimal places."""
    if not value.is_finite() or value < 0:
        raise PriceBookError(f"{what}: {value!r} is not a finite non-negative price")
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > max_scale:
        raise PriceBookError(
            f"{what}: {value} needs {-exponent} decimal places, the book keeps {max_scale}"
        )
    text = format(normal, "f")
    return text


def unit_price(price: Decimal, per: int) -> Decimal | None:
    """Price of one unit when `per` is a power of ten (an exact decimal shift), else None."""
    digits = str(per)
    if digits[0] != "1" or set(digits[1:]) - {"0"}:
        return None
    return price.scaleb(-(len(digits) - 1))


def _utc_time_text(value: time) -> str:
    from genai_prices.types import _utc_timetz

    utc = _utc_timetz(value)
    return utc.replace(tzinfo=None).isoformat()


def _iter_conditions(model: Any) -> list[tuple[int, Any, Any]]:
    from genai_prices import types

    if isinstance(model.prices, types.ModelPrice):
        return [(0, None, model.prices)]
    return [(i, cp.constraint, cp.prices) for i, cp in enumerate(model.prices)]


def _price_items(model_price: Any) -> list[tuple[str, Any]]:
    return sorted(
        (key, value)
        for key, value in model_price.__dict__.items()
        if not key.startswith("_") and value is not None
    )


def build_price_book() -> PriceBook:
    """The price book of the installed (pinned) genai-prices package; deterministic."""
    import genai_prices
    from genai_prices import data_snapshot, types
    from genai_prices.units import _get_registry

    registry = _get_registry()
    snapshot = data_snapshot.get_snapshot()
    conditions: list[dict[str, str]] = []
    prices: list[dict[str, str]] = []
    for provider in snapshot.providers:
        for model in provider.models:
            if isinstance(model.prices, list) and not model.prices:
                raise PriceBookError(f"{provider.id}/{model.id}: empty price list")
            for index, constraint, model_price in _iter_conditions(model):
                where = f"{provider.id}/{model.id} prices[{index}]"
                condition = dict.fromkeys(CONDITION_COLUMNS, "")
                condition.update(provider_id=provider.id, model_id=model.id, price_index=str(index))
                if isinstance(constraint, types.StartDateConstraint):
                    condition["starts_on"] = constraint.start_date.isoformat()
                elif isinstance(constraint, types.TimeOfDateConstraint):
                    condition["active_from_time"] = _utc_time_text(constraint.start_time)
                    condition["active_until_time"] = _utc_time_text(constraint.end_time)
                elif constraint is not None:
                    raise PriceBookError(f"{where}: unknown constraint {constraint!r}")
                conditions.append(condition)
                for key, value in _price_items(model_price):
                    try:
                        per = registry.unit_for_price_key(key).per
                    except KeyError as exc:
                        raise PriceBookError(f"{where}: unknown price key {key}") from exc
                    if isinstance(value, types.TieredPrices):
                        tiers = [(BASE_TIER_START, value.base)]
                        tiers += [(t.start, t.price) for t in value.tiers]
                    else:
                        tiers = [(BASE_TIER_START, value)]
                    for start, price in tiers:
                        one = unit_price(price, per)
                        prices.append(
                            {
                                "provider_id": provider.id,
                                "model_id": model.id,
                                "price_index": str(index),
                                "price_key": key,
                                "tier_start": str(start),
                                "price_usd": decimal_text(price, PRICE_SCALE, f"{where} {key}"),
                                "unit_per": str(per),
                                "unit_price_usd": ""
                                if one is None
                                else decimal_text(one, UNIT_PRICE_SCALE, f"{where} {key}"),
                            }
                        )
    conditions.sort(key=lambda r: (r["provider_id"], r["model_id"], int(r["price_index"])))
    prices.sort(
        key=lambda r: (
            r["provider_id"],
            r["model_id"],
            int(r["price_index"]),
            r["price_key"],
            int(r["tier_start"]),
        )
    )
    source = [{"package_name": PACKAGE, "package_version": genai_prices.__version__}]
    return PriceBook(source=source, conditions=conditions, prices=prices)


def sql_leaf_counts(
    priced_keys: set[str], input_tokens: int, output_tokens: int, cache_read: int, cache_write: int
) -> dict[str, int]:
    """Unit count per priced key as the SQL computes it (model int_model_calls_priced).

    Input tokens include cache reads and writes; those are taken out of the input count only
    when they have a price of their own, otherwise they are billed as input.
    """
    counts: dict[str, int] = {}
    for key in priced_keys:
        if key == "input_mtok":
            counts[key] = (
                input_tokens
                - (cache_read if "cache_read_mtok" in priced_keys else 0)
                - (cache_write if "cache_write_mtok" in priced_keys else 0)
            )
        elif key == "output_mtok":
            counts[key] = output_tokens
        elif key == "cache_read_mtok":
            counts[key] = cache_read
        elif key == "cache_write_mtok":
            counts[key] = cache_write
        elif key == "requests_kcount":
            counts[key] = 1
        else:
            counts[key] = 0
    return counts


def check_leaf_rule() -> int:
    """Prove the SQL's unit counts equal genai-prices' for every conditional price; returns count.

    Raises PriceBookError on the first conditional price where they differ: a new package
    version with a pricing rule the SQL does not implement yet.
    """
    from genai_prices import Usage, data_snapshot
    from genai_prices.types import _collect_resolved_model_prices, _compute_registry_priced_counts
    from genai_prices.units import _get_registry

    registry = _get_registry()
    probes = [(1000, 300, 0, 0), (5000, 700, 1200, 800), (300_000, 9, 299_000, 1000), (0, 0, 0, 0)]
    checked = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            for index, _constraint, model_price in _iter_conditions(model):
                resolved = _collect_resolved_model_prices(model_price, registry)
                keys = {unit.price_key for unit, _ in resolved}
                for inp, out, cr, cw in probes:
                    usage = Usage(
                        input_tokens=inp,
                        output_tokens=out,
                        cache_read_tokens=cr,
                        cache_write_tokens=cw,
                    )
                    theirs = _compute_registry_priced_counts(resolved, usage)
                    theirs = {registry.units[k].price_key: v for k, v in theirs.items()}
                    ours = sql_leaf_counts(keys, inp, out, cr, cw)
                    if theirs != ours:
                        raise PriceBookError(
                            f"{provider.id}/{model.id} prices[{index}]: genai-prices counts "
                            f"{theirs} for usage {(inp, out, cr, cw)}, the SQL would count {ours}"
                        )
                checked += 1
    return checked


def _csv(columns: list[str], rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def export(seeds_dir: Path = SEEDS_DIR) -> dict[str, int]:
    """Write the seed files; returns rows written per file."""
    check_leaf_rule()
    book = build_price_book()
    seeds_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in book.files().items():
        (seeds_dir / name).write_text(text, encoding="utf-8")
        written[name] = text.count("\n") - 1
    return written


def diff(seeds_dir: Path = SEEDS_DIR) -> list[str]:
    """Differences between the committed seeds and a fresh export (empty when equal)."""
    problems = []
    for name, expected in build_price_book().files().items():
        path = seeds_dir / name
        actual = path.read_text(encoding="utf-8") if path.exists() else ""
        if actual != expected:
            lines = list(
                difflib.unified_diff(
                    actual.splitlines(),
                    expected.splitlines(),
                    f"{path} (committed)",
                    f"{name} (genai-prices export)",
                    n=0,
                    lineterm="",
                )
            )
            shown = "\n".join(lines[:20]) + ("\n..." if len(lines) > 20 else "")
            problems.append(f"{name} differs from the export:\n{shown}")
    return problems


def _cmd_export(args: argparse.Namespace) -> int:
    try:
        written = export(args.seeds_dir)
    except PriceBookError as exc:
        print(f"agentops-wh pricebook export: error: {exc}", file=sys.stderr)
        return 2
    import genai_prices

    for name, rows in written.items():
        print(f"{args.seeds_dir / name}: {rows} rows")
    print(f"exported from {PACKAGE} {genai_prices.__version__}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        checked = check_leaf_rule()
        problems = diff(args.seeds_dir)
    except PriceBookError as exc:
        print(f"agentops-wh pricebook check: error: {exc}", file=sys.stderr)
        return 2
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(
            "the committed price book is not what the installed genai-prices exports; run "
            "`agentops-wh pricebook export` and commit the seeds",
            file=sys.stderr,
        )
        return 1
    print(f"price book matches the installed genai-prices ({checked} conditional prices checked)")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "pricebook",
        help="export or check the price book seeds (from the pinned genai-prices)",
        description="The price book is a set of dbt seeds exported from the pinned genai-prices "
        "package; negotiated rates go in dbt_project/seeds/price_overrides.csv.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, func, text in (
        ("export", _cmd_export, "write the price book seeds from the installed genai-prices"),
        ("check", _cmd_check, "exit 1 if the committed seeds differ from a fresh export"),
    ):
        a = actions.add_parser(name, help=text, description=text)
        a.add_argument(
            "--seeds-dir",
            type=Path,
            default=SEEDS_DIR,
            help="dbt seeds folder (default: %(default)s)",
        )
        a.set_defaults(func=func)

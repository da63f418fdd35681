"""The price book seeds: equal to a fresh export of the pinned genai-prices, exact, complete."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from genai_prices import data_snapshot, types

from ingestion.reference import pricebook
from orchestration.cli import main

SEEDS = pricebook.SEEDS_DIR


def read_seed(name: str) -> list[dict[str, str]]:
    with open(SEEDS / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_committed_seeds_equal_a_fresh_export() -> None:
    assert pricebook.diff() == []


def test_check_command_passes_on_the_committed_seeds(capsys: pytest.CaptureFixture) -> None:
    assert main(["pricebook", "check"]) == 0
    assert "matches the installed genai-prices" in capsys.readouterr().out


def test_check_command_fails_on_a_stale_seed(tmp_path: Path, capsys) -> None:
    assert main(["pricebook", "export", "--seeds-dir", str(tmp_path)]) == 0
    prices = tmp_path / "price_book_prices.csv"
    text = prices.read_text()
    prices.write_text(text.replace("gpt-4o,0,input_mtok,-1,2.5,", "gpt-4o,0,input_mtok,-1,2.4,", 1))
    assert prices.read_text() != text
    assert main(["pricebook", "check", "--seeds-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "price_book_prices.csv differs" in err and "pricebook export" in err


def test_export_is_deterministic(tmp_path: Path) -> None:
    pricebook.export(tmp_path / "a")
    pricebook.export(tmp_path / "b")
    for name in ("price_book_source.csv", "price_book_conditions.csv", "price_book_prices.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_sql_unit_counts_equal_genai_prices_for_every_conditional_price() -> None:
    assert pricebook.check_leaf_rule() >= 2_000


def test_book_is_complete_and_names_its_source() -> None:
    assert read_seed("price_book_source.csv") == [
        {"package_name": "genai-prices", "package_version": genai_prices.__version__}
    ]
    conditions = {
        (r["provider_id"], r["model_id"], int(r["price_index"]))
        for r in read_seed("price_book_conditions.csv")
    }
    expected = set()
    for provider in data_snapshot.get_snapshot().providers:
        for info in provider.models:
            n = 1 if isinstance(info.prices, types.ModelPrice) else len(info.prices)
            expected |= {(provider.id, info.id, i) for i in range(n)}
    assert conditions == expected
    prices = read_seed("price_book_prices.csv")
    assert {(r["provider_id"], r["model_id"], int(r["price_index"])) for r in prices} <= conditions


def test_unit_prices_are_exact() -> None:
    """unit_price_usd * unit_per == price_usd exactly, in at most 24 decimal places."""
    counted = 0
    for row in read_seed("price_book_prices.csv"):
        price = Decimal(row["price_usd"])
        if not row["unit_price_usd"]:
            assert int(row["unit_per"]) == 3600, row  # per-hour audio prices only
            continue
        unit = Decimal(row["unit_price_usd"])
        assert unit * int(row["unit_per"]) == price, row
        exponent = unit.as_tuple().exponent
        assert isinstance(exponent, int) and exponent >= -24, row
        assert "e" not in row["unit_price_usd"].lower() and "e" not in row["price_usd"].lower()
        counted += 1
    assert counted > 7_000


def test_finest_price_keeps_every_digit() -> None:
    rows = [
        r for r in read_seed("price_book_prices.csv") if r["price_usd"] == "0.041666666666666664"
    ]
    assert rows and {r["unit_price_usd"] for r in rows} == {"0.000000041666666666666664"}


def test_decimal_text_refuses_what_the_book_cannot_hold() -> None:
    assert pricebook.decimal_text(Decimal("2.50"), 18, "x") == "2.5"
    assert pricebook.decimal_text(Decimal("1E+2"), 18, "x") == "100"
    assert pricebook.decimal_text(Decimal("0"), 18, "x") == "0"
    with pytest.raises(pricebook.PriceBookError, match="decimal places"):
        pricebook.decimal_text(Decimal("1E-25"), 24, "x")
    with pytest.raises(pricebook.PriceBookError, match="finite"):
        pricebook.decimal_text(Decimal("NaN"), 24, "x")


def test_unit_price_is_a_decimal_shift() -> None:
    assert pricebook.unit_price(Decimal("2.5"), 1_000_000) == Decimal("0.0000025")
    assert pricebook.unit_price(Decimal("3"), 1_000) == Decimal("0.003")
    assert pricebook.unit_price(Decimal("0.36"), 3_600) is None


def test_overrides_seed_is_empty_by_default() -> None:
    text = (SEEDS / "price_overrides.csv").read_text()
    assert text == "provider_id,model_id,valid_from,price_key,tier_start,price_usd\n"

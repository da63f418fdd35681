"""The seeds as their own assets: loaded into a new build database with nothing else, and a
subset of the models building on them right after (no upgrade refused, no fake outputs)."""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import duckdb

from ingestion.settings import DBT_PROJECT_DIR
from orchestration.assets import warehouse_dbt_models, warehouse_seeds
from orchestration.resources import build_resources
from orchestration.warehouse.build import build_db_path, needs_full_refresh, seed_args


def rows_in(csv_path: Path) -> int:
    with open(csv_path, newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def test_seeds_load_into_a_new_build_database_then_models_build_on_them(
    data_dir: Path, instance: dg.DagsterInstance
) -> None:
    resources = build_resources()
    result = dg.materialize([warehouse_seeds], instance=instance, resources=resources)
    assert result.success
    loaded = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    seeds = {p.stem for p in (DBT_PROJECT_DIR / "seeds").glob("*.csv")}
    assert loaded == seeds
    with duckdb.connect(str(build_db_path(data_dir)), read_only=True) as con:
        for name in seeds:
            (count,) = con.execute(f"select count(*) from seeds.{name}").fetchone()  # type: ignore[misc]
            assert count == rows_in(DBT_PROJECT_DIR / "seeds" / f"{name}.csv"), name
    # A new build database has the current layout, and `agentops-wh build` knows its seeds.
    assert not needs_full_refresh(data_dir)
    assert seed_args(data_dir) == ["--exclude", "resource_type:seed"]
    # A new Dagster instance over a build database that holds these files (`make demo` built
    # it before Dagster started) loads nothing again.
    again = dg.materialize([warehouse_seeds], resources=resources)
    assert again.success and again.get_asset_materialization_events() == []

    # Then a subset of the models (what automation asks for after a seed changed).
    prices = dg.AssetKey(["intermediate", "int_prices_unioned"])
    upstream = dg.AssetSelection.assets(prices).upstream() - dg.AssetSelection.assets(
        warehouse_seeds
    )
    subset = dg.materialize(
        [warehouse_seeds, warehouse_dbt_models],
        selection=upstream,
        instance=instance,
        resources=resources,
    )
    assert subset.success
    built = {e.asset_key for e in subset.get_asset_materialization_events()}
    assert prices in built and not any(k.path[0] == "seeds" for k in built)
    with duckdb.connect(str(build_db_path(data_dir)), read_only=True) as con:
        row = con.execute("select count(*) from intermediate.int_prices_unioned").fetchone()
    assert row and row[0] >= rows_in(DBT_PROJECT_DIR / "seeds" / "price_book_prices.csv")

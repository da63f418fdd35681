"""The dbt project as Dagster assets (dagster-dbt): the seeds, and the models with their tests.

Seeds (the price book snapshot, price overrides) change with the code, not with the data:
they are their own assets, versioned by their files, and load when a file changes or into a
Dagster instance that never loaded them. Models rebuild when anything upstream updates: a
lake commit, the budgets reference, the alert outbox, a seed.
"""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ingestion.reference.model_refs import ModelRefsError, write_model_refs_reference
from orchestration.project import dbt_project
from orchestration.resources import WarehouseResource
from orchestration.warehouse import engine_switch
from orchestration.warehouse import spark as engine_spark
from orchestration.warehouse.build import (
    BuildError,
    build_db_path,
    forget_seeds,
    needs_full_refresh,
    record_layout,
    record_seeds,
    seed_args,
    skips_seeds,
)

SEEDS = "resource_type:seed"

# dbt sources -> the Dagster assets that produce them, so the lineage runs end to end:
# landing files -> lake_events -> stg_lake__* -> marts, the budgets file -> budgets_reference
# -> budget_status, and alert deliveries -> fct_alerts.
SOURCE_ASSET_KEYS: dict[tuple[str, str], dg.AssetKey] = {
    ("lake", "events"): dg.AssetKey("lake_events"),
    ("reference", "budgets"): dg.AssetKey("budgets_reference"),
    ("outbox", "alerts"): dg.AssetKey("alert_outbox"),
}

# What a new Dagster instance has never materialized loads at its first evaluation (Dagster's
# `newly_missing` waits for an asset to *become* missing); later, once per change of a file.
# One-shot triggers: a failed load is not retried in a loop.
LOAD_IF_MISSING = (
    dg.AutomationCondition.initial_evaluation() & dg.AutomationCondition.missing()
).with_label("missing at the first evaluation")
SEED_CONDITION = (
    LOAD_IF_MISSING
    | (dg.AutomationCondition.newly_missing() | dg.AutomationCondition.code_version_changed())
    .since_last_handled()
    .with_label("seed files changed")
) & ~dg.AutomationCondition.in_progress()


# Eager, but not held back by an upstream this Dagster instance never materialized: the tables
# exist (`agentops-wh build` or `make demo` built them all before Dagster started), and with
# eager's `~any_deps_missing` a new instance would never publish: `published_warehouse`
# depends on every model, and the models nothing new touches are never run.
EAGER = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager (upstreams never materialized here do not hold it back)")
)


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Keys dbt sources to the ingestion and outbox assets; dbt nodes in group `warehouse`;
    seeds versioned by their file and configuration, models eager."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            key = SOURCE_ASSET_KEYS.get((props["source_name"], props["name"]))
            return spec.replace_attributes(key=key) if key else spec
        condition = SEED_CONDITION if props["resource_type"] == "seed" else EAGER
        return spec.replace_attributes(group_name="warehouse", automation_condition=condition)

    def get_code_version(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] != "seed":
            return super().get_code_version(dbt_resource_props)
        # The file's checksum (dagster-dbt's default) and the seed's configuration (column
        # types): either changes what the seed loads.
        text = json.dumps(
            [dbt_resource_props["checksum"], dbt_resource_props["config"]],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]


TRANSLATOR = WarehouseDbtTranslator()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    select=SEEDS,
    name="warehouse_seeds",
)
def warehouse_seeds(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """`dbt build` of the seeds (and their tests) into the build database."""
    warehouse.export_env()
    with warehouse.build_lock():
        base = warehouse.base()
        spark = warehouse.engine_name() == "spark"
        fresh = not (engine_spark.has_build(base) if spark else build_db_path(base).exists())
        if spark:
            engine_spark.spark_dir(base).mkdir(parents=True, exist_ok=True)
            args = ["build", "--target", engine_spark.spark_target()]
        else:
            if not fresh and skips_seeds(seed_args(base)):
                # `agentops-wh build` (or `make demo`) loaded exactly these files already: a new
                # Dagster instance need not spend a minute and a half loading them again.
                context.log.info(
                    "the build database already holds these seed files: nothing to load"
                )
                return
            args = ["build"]
            # Tells `agentops-wh build` which seeds the build database holds: none for sure
            # while this runs (a load that fails half way), all of today's files after a whole
            # load.
            forget_seeds(base, args)
        invocation = dbt.cli(args, context=context, target_path=warehouse.dbt_target_path)
        yield from invocation.stream()
        if invocation.is_successful() and not context.is_subset:
            if spark:
                engine_spark.record_seeds(base, args)
            else:
                record_seeds(base, args)
        if invocation.is_successful() and fresh:
            # A new build database: its tables will have the current layout, none older.
            record_layout(base)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    exclude=SEEDS,
    name="warehouse_dbt_models",
)
def warehouse_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """`dbt build` (models, data tests) into the build database, not the published one.

    Unit tests check model logic, not data: they run in `agentops-wh build` and the test
    suite, and are left out here because this build runs on every new lake commit.
    """
    warehouse.export_env()
    # The lock `agentops-wh build` takes, so a manual build never writes alongside this one.
    with warehouse.build_lock():
        base = warehouse.base()
        engine = warehouse.engine_name()
        built = engine_spark.has_build(base) if engine == "spark" else build_db_path(base).exists()
        if not built:
            raise dg.Failure(
                f"no build database under {base / 'build'} yet, so no seeds: materialize the "
                "warehouse_seeds assets with these (landing_files_sensor does on a first run), "
                "or run `agentops-wh build` once"
            )
        # A build database of an older layout is rebuilt from the lake once (the ledger is
        # kept); that takes the whole project, not a subset.
        upgrade = needs_full_refresh(base)
        if upgrade and context.is_subset:
            raise dg.Failure(
                "the build database was built by an older version (its tables are keyed "
                "differently): materialize all warehouse assets once (or run "
                "`agentops-wh build`) to upgrade it"
            )
        # The loads dbt reads and their model references, taken now: lake_events may have
        # committed loads since budgets_reference ran (they run side by side).
        try:
            write_model_refs_reference(base)
        except ModelRefsError as exc:
            raise dg.Failure(description=str(exc)) from exc
        # A switch of engine carries the cost ledger over first
        # (orchestration/warehouse/engine_switch.py).
        try:
            switched = engine_switch.prepare(base, engine, "subset" if context.is_subset else None)
        except BuildError as exc:
            raise dg.Failure(description=str(exc)) from exc
        if engine == "spark":
            args = engine_spark.dagster_build_args(base, full_refresh=upgrade or switched)
        else:
            args = ["build", "--exclude-resource-type", "unit_test"]
            if upgrade or switched:
                args.append("--full-refresh")
        # One target folder per data directory, kept between runs (the lock serializes them):
        # dbt's partial parsing then skips most of its parse (seconds on every run), which a
        # fresh folder per invocation, dagster-dbt's default, forfeits.
        invocation = dbt.cli(args, context=context, target_path=warehouse.dbt_target_path)
        yield from invocation.stream()
        if invocation.is_successful() and not context.is_subset:
            record_layout(base)
            engine_switch.record(base, engine)

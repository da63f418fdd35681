"""The dbt project's models, seeds and tests as Dagster assets (dagster-dbt)."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ingestion.model_refs import ModelRefsError, write_model_refs_reference
from ingestion.warehouse import (
    BuildError,
    forget_seeds,
    needs_full_refresh,
    record_layout,
    record_seeds,
    seed_args,
    skips_seeds,
)
from orchestration import engine_spark, engine_switch
from orchestration.project import dbt_project, ensure_manifest
from orchestration.resources import WarehouseResource

# dbt sources -> the Dagster assets that produce them, so the lineage runs end to end:
# landing files -> lake_events -> stg_lake__* -> marts, the budgets file -> budgets_reference
# -> budget_status, and alert deliveries -> fct_alerts.
SOURCE_ASSET_KEYS: dict[tuple[str, str], dg.AssetKey] = {
    ("lake", "events"): dg.AssetKey("lake_events"),
    ("reference", "budgets"): dg.AssetKey("budgets_reference"),
    ("outbox", "alerts"): dg.AssetKey("alert_outbox"),
}


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Keys dbt sources to the ingestion and outbox assets; dbt nodes in group `warehouse`."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            key = SOURCE_ASSET_KEYS.get((props["source_name"], props["name"]))
            return spec.replace_attributes(key=key) if key else spec
        return spec.replace_attributes(group_name="warehouse")


# Outside `dagster dev` a deployment ships its manifest; a fresh clone (`make test`, the
# benchmark) has none, and one `dbt parse` (a few seconds) beats failing to load.
@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=WarehouseDbtTranslator(),
    name="warehouse_dbt_models",
)
def warehouse_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """`dbt build` (seeds, models, data tests) into the build database, not the published one.

    Unit tests check model logic, not data: they run in `agentops-wh build` and the test
    suite, and are left out here because this build runs every minute.
    """
    warehouse.export_env()
    # The lock `agentops-wh build` takes, so a manual build never writes alongside this one.
    with warehouse.build_lock():
        base = warehouse.base()
        # A build database of an older layout is rebuilt from the lake once (the ledger is
        # kept); that takes the whole project, not a subset.
        upgrade = needs_full_refresh(base)
        if upgrade and context.is_subset:
            raise dg.Failure(
                "the build database was built by an older version (its tables are keyed "
                "differently): materialize all warehouse assets once (or run "
                "`agentops-wh build`) to upgrade it"
            )
        engine = warehouse.engine_name()
        # The loads dbt reads and their model references, taken now: lake_events may have
        # committed loads since budgets_reference ran (they run side by side).
        try:
            write_model_refs_reference(base)
        except ModelRefsError as exc:
            raise dg.Failure(description=str(exc)) from exc
        # A switch of engine carries the cost ledger over first (orchestration/engine_switch.py).
        try:
            switched = engine_switch.prepare(base, engine, "subset" if context.is_subset else None)
        except BuildError as exc:
            raise dg.Failure(description=str(exc)) from exc
        if engine == "spark":
            args = engine_spark.dagster_build_args(base, full_refresh=upgrade or switched)
        else:
            # Seeds load only when their files changed since the last successful build.
            args = ["build", "--exclude-resource-type", "unit_test", *seed_args(base, upgrade)]
            if upgrade or switched:
                args.append("--full-refresh")
            forget_seeds(base, args)
        # One target folder per data directory, kept between runs (the lock serializes them):
        # dbt's partial parsing then skips most of its parse (seconds on every run), which a
        # fresh folder per invocation, dagster-dbt's default, forfeits.
        if skips_seeds(args):
            # Unchanged seeds are current in the build database: say so (first: a multi-asset
            # yields in topological order), or Dagster would skip every asset downstream of
            # them, the publish step among them.
            yield from _unchanged_seed_outputs(context)
        invocation = dbt.cli(args, context=context, target_path=warehouse.dbt_target_path)
        yield from invocation.stream()
        if invocation.is_successful():
            if engine == "spark":
                engine_spark.record_seeds(base, args)
            else:
                record_seeds(base, args)
            if not context.is_subset:
                record_layout(base)
                engine_switch.record(base, engine)


@functools.cache
def _seed_keys() -> frozenset[dg.AssetKey]:
    """The asset keys of the project's seeds (the translator keys them schema / name)."""
    manifest = json.loads(ensure_manifest().read_text())
    translator = WarehouseDbtTranslator()
    return frozenset(
        translator.get_asset_spec(manifest, unique_id, dbt_project).key
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "seed"
    )


def _unchanged_seed_outputs(context: dg.AssetExecutionContext) -> Iterator[dg.Output]:
    seeds = _seed_keys()
    for name, key in context.assets_def.keys_by_output_name.items():
        if key in seeds and name in context.op_execution_context.selected_output_names:
            yield dg.Output(
                None,
                output_name=name,
                metadata={"reloaded": False, "why": "seed files unchanged since their last load"},
            )

"""The code location `make dagster` serves loads, with the pieces the issue names, and
decides by its automation conditions what runs when."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingestion.settings import PROJECT_ROOT
from orchestration.assets import warehouse_seeds
from orchestration.definitions import defs
from orchestration.resources import build_resources

SEEDS = {"price_book_conditions", "price_book_prices", "price_book_source", "price_overrides"}


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {"warehouse_job", "alerts_job"}
    assert {s.name for s in repo.schedule_defs} == set()  # automation conditions instead
    assert {s.name for s in repo.sensor_defs} == {
        "landing_files_sensor",
        "lake_commits_sensor",
        "budget_threshold_sensor",
        "run_failure_sensor",
        "warehouse_automation_sensor",
    }
    assert set(defs.resources or {}) == {
        "dbt", "warehouse", "published", "slack", "webhook", "alerts",
    }  # fmt: skip


def test_dbt_sources_are_keyed_to_the_ingestion_and_outbox_assets() -> None:
    graph = defs.resolve_asset_graph()
    staging = dg.AssetKey(["staging", "stg_lake__events"])
    assert dg.AssetKey("lake_events") in graph.get(staging).parent_keys
    outbox = dg.AssetKey(["staging", "stg_outbox__alerts"])
    assert dg.AssetKey("alert_outbox") in graph.get(outbox).parent_keys
    budgets = dg.AssetKey(["staging", "stg_reference__budgets"])
    assert dg.AssetKey("budgets_reference") in graph.get(budgets).parent_keys
    published = graph.get(dg.AssetKey("published_warehouse"))
    assert dg.AssetKey(["marts", "budget_status"]) in published.parent_keys
    job = defs.resolve_job_def("warehouse_job")
    keys = job.asset_layer.selected_asset_keys
    assert {
        dg.AssetKey("lake_events"),
        dg.AssetKey("budgets_reference"),
        dg.AssetKey("published_warehouse"),
    } <= keys
    assert dg.AssetKey(["marts", "fct_alerts"]) in keys
    alerts = defs.resolve_job_def("alerts_job").asset_layer.selected_asset_keys
    assert alerts == {dg.AssetKey("budget_alerts"), dg.AssetKey("alert_outbox")}


def test_seeds_are_their_own_assets_versioned_by_their_files() -> None:
    graph = defs.resolve_asset_graph()
    seeds = {k for k in graph.get_all_asset_keys() if k.path[0] == "seeds"}
    assert {k.path[-1] for k in seeds} == SEEDS
    models = graph.get(dg.AssetKey(["marts", "fct_runs"])).assets_def
    assert not seeds & set(models.keys)  # another definition: no fake outputs for them
    versions = {k: graph.get(k).code_version for k in seeds}
    assert all(v and len(v) == 24 for v in versions.values())
    assert len(set(versions.values())) == len(seeds)


def test_the_published_warehouse_is_read_through_dagster_duckdb_read_only(
    data_dir: Path,
) -> None:
    path = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as x")
    published = build_resources()["published"]
    assert published.database == str(path)
    with published.get_connection() as con:
        assert con.execute("select x from t").fetchall() == [(1,)]
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            con.execute("insert into t values (2)")
        # A second reader (the dashboard, a notebook) opens it at the same time.
        other = subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}, read_only=True)"],
            capture_output=True,
            text=True,
        )
        assert other.returncode == 0, other.stderr


def test_resources_take_settings_from_the_environment_and_secrets_as_env_vars() -> None:
    env = {
        "AGENTOPS_DATA_DIR": "/srv/agentops",
        "AGENTOPS_LANDING_GRACE_SECONDS": "5",
        "AGENTOPS_ALERT_DIGEST_MIN": "4",
        "AGENTOPS_RELIABILITY_FAILURE_RATE": "0.5",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T/B/secret",
    }
    resources = build_resources(env)
    assert resources["warehouse"].data_dir == "/srv/agentops"
    assert resources["warehouse"].landing_grace_seconds == 5.0
    assert resources["published"].database == "/srv/agentops/warehouse.duckdb"
    assert resources["alerts"].digest_min_alerts == 4
    assert resources["alerts"].reliability_failure_rate == 0.5
    assert resources["alerts"].budgets_url == "http://localhost:8501/budgets"  # default
    # The URL itself is read when a run starts and never shown: the config holds its name.
    assert resources["slack"].webhook_url == dg.EnvVar("SLACK_WEBHOOK_URL")
    assert resources["webhook"].url is None
    with pytest.raises(ValueError, match="AGENTOPS_ALERT_DIGEST_MIN='many' is not an integer"):
        build_resources({"AGENTOPS_ALERT_DIGEST_MIN": "many"})


def test_loading_the_definitions_parses_nothing_and_leaves_path_alone(tmp_path: Path) -> None:
    """Outside `dagster dev` nothing runs dbt at import, and PATH is the caller's."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_IS_DEV_CLI"}
    env["PATH"] = "/usr/bin:/bin"  # no dbt on it
    code = (
        "import os, subprocess\n"
        "calls = []\n"
        "real = subprocess.Popen.__init__\n"
        "def spy(self, args, *a, **k):\n"
        "    calls.append(args)\n"
        "    return real(self, args, *a, **k)\n"
        "subprocess.Popen.__init__ = spy\n"
        "import orchestration.definitions\n"
        "assert os.environ['PATH'] == '/usr/bin:/bin', os.environ['PATH']\n"
        "assert not [c for c in calls if 'dbt' in str(c)], calls\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- automation conditions ----------------------------------------------------------------


def materialized(instance: dg.DagsterInstance, *keys: dg.AssetKey) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))


def requested(result: dg.EvaluateAutomationConditionsResult) -> set[str]:
    return {
        r.key.to_user_string()
        for r in result.results
        if isinstance(r.key, dg.AssetKey) and r.true_subset.size
    }


AT = datetime(2026, 11, 25, 10, 3, tzinfo=UTC)


def test_automation_loads_the_roots_of_a_new_instance_then_only_what_changed() -> None:
    graph = defs.resolve_asset_graph()
    from_lake = graph.get(dg.AssetKey("lake_events")).child_keys
    seeds = {dg.AssetKey(["seeds", s]) for s in SEEDS}
    with dg.instance_for_test() as instance:
        cursor = None
        ticks = []
        for _ in range(2):
            result = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, cursor=cursor, evaluation_time=AT
            )
            ticks.append(requested(result))
            cursor = result.cursor
        # A new instance: the first tick loads the roots it has never seen (the seeds, the
        # budgets), once; the lake and the alerts are the sensors' to start.
        assert ticks == [{k.to_user_string() for k in seeds} | {"budgets_reference"}, set()]
        # Once the seeds are in, what needs nothing else builds from them.
        materialized(instance, *seeds)
        seeded = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=cursor, evaluation_time=AT
        )
        assert "intermediate/int_prices_unioned" in requested(seeded)
        assert not {k.to_user_string() for k in from_lake} & requested(seeded)  # no lake data
        cursor = seeded.cursor

        materialized(instance, *graph.get_all_asset_keys())
        quiet = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=cursor, evaluation_time=AT
        )
        assert requested(quiet) == set()
        # A lake commit: the models downstream of the lake and the publish, nothing else.
        materialized(instance, dg.AssetKey("lake_events"))
        commit = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=quiet.cursor, evaluation_time=AT
        )
        assert {k.to_user_string() for k in from_lake} <= requested(commit)
        assert {"published_warehouse", "marts/fct_cost_ledger"} <= requested(commit)
        assert not {f"seeds/{s}" for s in SEEDS} & requested(commit)
        assert "budgets_reference" not in requested(commit)
        assert "intermediate/int_prices_unioned" not in requested(commit)  # seeds only


def test_an_edited_seed_file_reloads_that_seed() -> None:
    graph = defs.resolve_asset_graph()
    prices = dg.AssetKey(["seeds", "price_overrides"])
    # The code location as it was before the file changed: another version of that seed.
    before = warehouse_seeds.map_asset_specs(
        lambda spec: (
            spec.replace_attributes(code_version="an-older-file") if spec.key == prices else spec
        )
    )
    with dg.instance_for_test() as instance:
        materialized(instance, *graph.get_all_asset_keys())
        old = dg.evaluate_automation_conditions(
            defs=dg.Definitions(assets=[before], resources=build_resources()),
            instance=instance,
            evaluation_time=AT,
        )
        assert requested(old) == set()
        new = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=old.cursor, evaluation_time=AT
        )
        assert "seeds/price_overrides" in requested(new)
        assert not {f"seeds/{s}" for s in SEEDS - {"price_overrides"}} & requested(new)


def test_the_budgets_refresh_on_the_clock_and_rebuild_downstream() -> None:
    graph = defs.resolve_asset_graph()
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=AT)
        materialized(instance, *graph.get_all_asset_keys())
        before = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=first.cursor, evaluation_time=AT
        )
        assert requested(before) == set()
        tick = AT.replace(minute=10, second=5)  # */10: the 10:10 tick has passed
        after = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=before.cursor, evaluation_time=tick
        )
        assert "budgets_reference" in requested(after)
        assert {"marts/budget_status", "published_warehouse"} <= requested(after)
        assert "marts/fct_cost_ledger" not in requested(after)  # not downstream of budgets
        assert "lake_events" not in requested(after)


def test_a_new_instance_publishes_after_a_lake_commit_though_it_never_built_every_model() -> None:
    """`make demo` builds every table before Dagster starts: a model this instance never
    materialized must not hold the publish back (it did: the demo never published)."""
    seeds = [dg.AssetKey(["seeds", s]) for s in SEEDS]
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=AT)
        materialized(instance, *seeds, dg.AssetKey("budgets_reference"))
        seeded = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=first.cursor, evaluation_time=AT
        )
        # The run it asked for built what depends on the seeds, and nothing else.
        materialized(instance, *(dg.AssetKey.from_user_string(k) for k in requested(seeded)))
        quiet = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=seeded.cursor, evaluation_time=AT
        )
        assert requested(quiet) == set()
        materialized(instance, dg.AssetKey("lake_events"))
        commit = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=quiet.cursor, evaluation_time=AT
        )
        assert {"marts/fct_model_calls", "published_warehouse"} <= requested(commit)

"""The dbt project as Dagster sees it: one `DbtProject`, prepared when developing.

`dagster dev` (and `make dagster`) parses the project when the definitions load, through
`prepare_if_dev()`, so model edits show up without a separate step; outside `dagster dev`
nothing parses at import. A deployment ships a manifest built ahead
(`dagster-dbt project prepare-and-package --file orchestration/project.py`); the tests and
benchmarks build one with `ensure_manifest()` before they load the definitions.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from ingestion.settings import DBT_PROJECT_DIR

# Dagster's artifacts live apart from those of `agentops-wh build` and of people running dbt
# by hand in dbt_project/, so a parse here never races theirs on target/manifest.json.
DAGSTER_TARGET_PATH = Path("target") / "dagster"
_PROJECT_FILES = ("models", "macros", "seeds", "tests", "snapshots", "analyses")


def dbt_executable() -> str:
    """The `dbt` next to this interpreter: `.venv/bin/dagster` runs without the venv on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def manifest_is_current(project: DbtProject) -> bool:
    """The manifest is newer than every file of the dbt project."""
    try:
        built = project.manifest_path.stat().st_mtime
    except FileNotFoundError:
        return False
    root = project.project_dir
    paths = [root / "dbt_project.yml", root / "profiles.yml", root / "packages.yml"]
    for folder in _PROJECT_FILES:
        if (root / folder).is_dir():
            paths.extend(p for p in (root / folder).rglob("*") if p.is_file())
    return all(not p.exists() or p.stat().st_mtime < built for p in paths)


dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target_path=DAGSTER_TARGET_PATH,
)
# Under `dagster dev` every process that loads the definitions (the code server and each run)
# prepares the project; parsing only when a project file changed since the manifest keeps
# seconds off every run on the freshness path. The parse runs the `dbt` on PATH: `make
# dagster` and `make demo` start Dagster with the venv's scripts first on it.
if not manifest_is_current(dbt_project):
    dbt_project.prepare_if_dev()


def ensure_manifest(force: bool = False) -> Path:
    """Parse the dbt project into its manifest if there is none (or always, with `force`).

    For what loads the definitions outside `dagster dev` on a fresh clone, where no manifest
    was built: the tests and the benchmarks.
    """
    if force or not dbt_project.manifest_path.exists():
        cli = DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
        cli.cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    return dbt_project.manifest_path

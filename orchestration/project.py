"""The dbt project as Dagster sees it: one `DbtProject`, prepared when developing.

`dagster dev` (and `make dagster`) re-parses the project on load via `prepare_if_dev()`, so
model edits show up without a separate step. A deployment ships a manifest built ahead
(`dagster-dbt project prepare-and-package --file orchestration/project.py`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from ingestion.settings import DBT_PROJECT_DIR

# Dagster's artifacts live apart from those of `agentops-wh build` and of people running dbt
# by hand in dbt_project/, so a parse here never races theirs on target/manifest.json.
DAGSTER_TARGET_PATH = Path("target") / "dagster"

# `.venv/bin/dagster dev` runs without the venv on PATH, and dagster-dbt's preparer calls a
# bare `dbt`; put this interpreter's scripts first so the venv's dbt is the one found.
_SCRIPTS = str(Path(sys.executable).parent)
if _SCRIPTS not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _SCRIPTS + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target_path=DAGSTER_TARGET_PATH,
)
_PROJECT_FILES = ("models", "macros", "seeds", "tests", "snapshots", "analyses")


def manifest_is_current() -> bool:
    """The manifest is newer than every file of the dbt project."""
    try:
        built = dbt_project.manifest_path.stat().st_mtime
    except FileNotFoundError:
        return False
    root = dbt_project.project_dir
    paths = [root / "dbt_project.yml", root / "profiles.yml", root / "packages.yml"]
    for folder in _PROJECT_FILES:
        if (root / folder).is_dir():
            paths.extend(p for p in (root / folder).rglob("*") if p.is_file())
    return all(not p.exists() or p.stat().st_mtime < built for p in paths)


# Under `dagster dev` every process that loads the definitions (the code server and each run
# worker) would re-parse the project, about 5-30 s per run on the freshness path; parsing only
# when a project file changed since the manifest keeps what prepare_if_dev() is for.
if not manifest_is_current():
    dbt_project.prepare_if_dev()


def dbt_executable() -> str:
    """The `dbt` next to this interpreter: `.venv/bin/dagster` runs without the venv on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def ensure_manifest(force: bool = False) -> Path:
    """Parse the dbt project into its manifest if there is none (or always, with `force`).

    For the places that load the definitions outside `dagster dev` on a fresh clone, where no
    manifest was built: the tests, the benchmark, `python -m orchestration.definitions`.
    """
    if force or not dbt_project.manifest_path.exists():
        dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path

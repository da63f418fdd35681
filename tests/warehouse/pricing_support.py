"""Helpers of the pricing and ledger tests: a private dbt project, and a real build of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingestion.settings import DBT_PROJECT_DIR
from orchestration.warehouse import build as warehouse


def copy_project(dest: Path) -> Path:
    """A private copy of the dbt project, so a test can edit its seeds (price_overrides.csv)."""
    return Path(
        shutil.copytree(
            DBT_PROJECT_DIR, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
        )
    )


def build_warehouse(data_dir: Path) -> Path:
    """`agentops-wh build` on a data directory (the real build function); the published file."""
    result = warehouse.build(data_dir)
    if not result.success or result.published_path is None:
        pytest.fail(f"{result.summary()}\n{result.output_tail}")
    return result.published_path

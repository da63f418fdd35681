"""The layout's one rule: imports flow ingestion -> orchestration -> app, never back.

dbt sits between ingestion and orchestration and imports no Python. The app reads the
published warehouse, a file: it imports nothing from orchestration (no Dagster in the
Streamlit process) and may use ingestion's small shared helpers. Checked on every module's
syntax tree, plus dotted module names in strings (`python -m ...`, lazy imports).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ingestion.settings import PROJECT_ROOT

MODULE_NAME = re.compile(r"^(ingestion|orchestration|app|tests)(\.\w+)+$")
# folder -> the top-level packages its modules must not import
FORBIDDEN = {
    "ingestion": {"orchestration", "app", "tests"},
    "orchestration": {"app", "tests"},
    "app": {"orchestration", "tests"},
}


def imported(path: Path) -> set[str]:
    """Top-level packages a module imports, or names as a dotted module string."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and MODULE_NAME.match(str(node.value)):
            out.add(str(node.value).split(".")[0])
    return out


def violations(folder: str) -> list[str]:
    found = []
    for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
        bad = imported(path) & FORBIDDEN[folder]
        if bad:
            found.append(f"{path.relative_to(PROJECT_ROOT)} imports {sorted(bad)}")
    return found


def test_ingestion_imports_neither_orchestration_nor_app() -> None:
    assert violations("ingestion") == []


def test_orchestration_does_not_import_the_app() -> None:
    assert violations("orchestration") == []


def test_the_app_does_not_import_orchestration() -> None:
    assert violations("app") == []


def test_the_check_sees_imports_and_module_names(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import orchestration.cli\n"
        "from app import queries\n"
        "from . import sibling\n"
        "CLI = ['python', '-m', 'tests.bench']\n"
        "TEXT = 'see orchestration/cli.py'\n"
    )
    assert imported(module) == {"orchestration", "app", "tests"}

"""Provider and model names: one normaliser, the same in Python, DuckDB and every dbt model."""

from __future__ import annotations

import re

import duckdb
import pytest

from ingestion.settings import DBT_PROJECT_DIR
from ingestion.validation.names import normalise_name, normalised_name_sql

NAMES = [" GPT-4o ", "gpt-4o", "GPT-4O", "  Anthropic", "claude-3-5-SONNET  ", "\tgpt-4o", ""]


@pytest.mark.parametrize("name", NAMES)
def test_python_and_sql_agree(name: str) -> None:
    sql = normalised_name_sql("$name")
    with duckdb.connect() as con:
        [(got,)] = con.execute(f"select {sql}", {"name": name}).fetchall()
    assert got == normalise_name(name)


def test_the_rule() -> None:
    assert normalise_name(" GPT-4o ") == "gpt-4o"
    assert normalise_name("\tGPT-4o") == "\tgpt-4o", "only spaces are trimmed, as SQL trim()"
    assert normalise_name(None) is None


def test_dbt_macro_is_the_same_expression() -> None:
    macro = (DBT_PROJECT_DIR / "macros" / "names.sql").read_text()
    body = re.search(r"macro normalised_name\(expression\) -%}\s*(.*?)\s*{%-", macro, re.S)
    assert body and body.group(1) == normalised_name_sql("{{ expression }}")


def test_no_model_normalises_names_by_hand() -> None:
    """Every dbt model that normalises a provider or model calls the macro (one definition)."""
    spelled = [
        str(path.relative_to(DBT_PROJECT_DIR))
        for path in sorted((DBT_PROJECT_DIR / "models").rglob("*.sql"))
        if re.search(r"lower\s*\(\s*trim\s*\(", path.read_text(), re.I)
    ]
    assert spelled == []

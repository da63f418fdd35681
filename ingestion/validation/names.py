"""The one normaliser of provider and model names, before they are priced or grouped.

Producers spell the same model many ways (`GPT-4o`, ` gpt-4o `); every input path (the file
loader, `POST /v1/events`, OTLP) keeps the producer's string in the lake as sent, and the
warehouse compares names only after this normaliser: leading and trailing spaces (U+0020)
removed, then lower-cased. `dbt_project/macros/names.sql` is the SQL side of the same rule
(DuckDB's and Spark's `lower(trim(x))`, which trim spaces only), and the Python code that reads
names from the lake (model references for pricing) calls `normalised_name_sql`, so the engines
and Python never disagree on which strings are one model.
"""

from __future__ import annotations

NAME_SQL = "lower(trim({}))"


def normalise_name(value: str | None) -> str | None:
    """A provider or model name as the warehouse compares it (None stays None)."""
    if value is None:
        return None
    return value.strip(" ").lower()


def normalised_name_sql(expression: str) -> str:
    """SQL that normalises `expression` exactly like `normalise_name` (DuckDB and Spark)."""
    return NAME_SQL.format(expression)

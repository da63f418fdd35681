"""Keys of what producers identify: every id a producer chooses is scoped by its tenant.

Two tenants may send the same `event_id`, `run_id`, `model_call_id` (or any other id they
choose) and keep separate events, runs, calls and costs everywhere. So the key of anything a
producer identifies is (tenant_id, id). This module is its one definition on the Python side;
dbt's `macros/keys.sql` is the SQL side, and both write the same key string.
"""

from __future__ import annotations


def tenant_key(tenant_id: str, id_: str) -> str:
    """The key of `id_` within `tenant_id`, as one string: `<len(tenant_id)>:<tenant_id>:<id>`.

    The length prefix keeps it unambiguous whatever the ids hold (tenant `a:b` with id `c`
    and tenant `a` with id `b:c` give different keys); Python's `len` and DuckDB's `length`
    both count code points.
    """
    return f"{len(tenant_id)}:{tenant_id}:{id_}"


def tenant_key_sql(tenant_id: str, id_: str) -> str:
    """`tenant_key` as a DuckDB expression over two columns (or expressions)."""
    return f"concat(length({tenant_id}), ':', {tenant_id}, ':', {id_})"

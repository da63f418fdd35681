"""Resolve producers' (provider, model) strings to genai-prices models, with its own resolver.

One row per distinct (provider, model) pair of the model-call events (read from
stg_lake__events, which stg_lake__model_calls filters: this model then runs beside that one
instead of after it, off the build's longest chain). genai-prices matches
model strings with per-model rules (equals, starts_with, regex, ...), falls back across
providers (Azure serves OpenAI's models, Google serves Anthropic's, ...), normalises compact
dates and understands LiteLLM's `provider/model` refs; re-implementing that in SQL would drift,
so this model calls `DataSnapshot.find_provider_model`, the function `calc_price` uses.

`price_provider_id` is the provider that lists the model in genai-prices (openai for an Azure
call of gpt-4o), which is how the price book is keyed. Unknown pairs get NULL ids.

A resolution depends only on the pair and the genai-prices release, so each build reuses the
rows this table already holds for the installed release (`genai_prices_version`) and asks
genai-prices about new pairs only. Most builds have none and never load the package's data
module (a 1.6 MB Python module: 0.1 s alone, 0.4 s inside a busy dbt run).
"""

import genai_prices
from genai_prices import data_snapshot

# The result as a DuckDB relation over four lists passed as parameters: an Arrow table built
# from Python lists would make pyarrow import pandas (0.15 s and more inside dbt) only to ask
# whether the lists are pandas objects; the relation needs neither.
RESULT_SQL = """
select
    unnest($1::varchar[]) as provider,
    unnest($2::varchar[]) as model,
    unnest($3::varchar[]) as price_provider_id,
    unnest($4::varchar[]) as price_model_id,
    $5::varchar as genai_prices_version
"""


def resolve(snapshot, owners, provider, model):
    """(price_provider_id, price_model_id) as genai-prices resolves them, or (None, None)."""
    if not provider or not model:
        return None, None
    try:
        _, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None, None
    return owners[id(info)], info.id


def model(dbt, session):
    dbt.config(materialized="table")
    ((book_version,),) = dbt.ref("price_book_source").project("package_version").fetchall()
    if book_version != genai_prices.__version__:
        raise RuntimeError(
            f"the price book seeds were exported from genai-prices {book_version} but "
            f"{genai_prices.__version__} is installed; install the pinned version or run "
            "`agentops-wh pricebook export` and commit the seeds"
        )
    pairs = (
        dbt.ref("stg_lake__events")
        .filter("event_type in ('model_call.completed', 'model_call.failed')")
        .project("provider, model")
        .distinct()
        .fetchall()
    )
    rows = sorted(pairs, key=lambda pair: (pair[0] or "", pair[1] or ""))
    known = resolved_before(session, dbt.this, genai_prices.__version__)
    new_pairs = [pair for pair in rows if pair not in known]
    if new_pairs:
        snapshot = data_snapshot.get_snapshot()
        owners = {id(info): p.id for p in snapshot.providers for info in p.models}
        for provider, model in new_pairs:
            known[provider, model] = resolve(snapshot, owners, provider, model)
    resolved = [known[pair] for pair in rows]
    columns = [
        [provider for provider, _ in rows],
        [model for _, model in rows],
        [ids[0] for ids in resolved],
        [ids[1] for ids in resolved],
    ]
    return session.sql(RESULT_SQL, params=[*columns, genai_prices.__version__])


def resolved_before(session, this, version):
    """{(provider, model): ids} this table holds for genai-prices `version` ({} if none)."""
    has_column = session.execute(
        "select count(*) from duckdb_columns() where database_name = ? and schema_name = ?"
        " and table_name = ? and column_name = 'genai_prices_version'",
        [this.database, this.schema, this.identifier],
    ).fetchall()[0][0]
    if not has_column:  # the first build, or a table from before the column existed
        return {}
    rows = session.execute(
        f"select provider, model, price_provider_id, price_model_id from {this!r}"
        " where genai_prices_version = ?",
        [version],
    ).fetchall()
    return {(provider, model): (pid, mid) for provider, model, pid, mid in rows}

"""Model references: producers' (provider, model) strings resolved by genai-prices, before dbt.

genai-prices matches model strings with per-model rules (equals, starts_with, regex, ...),
falls back across providers (Azure serves OpenAI's models, Google serves Anthropic's, ...),
normalises compact dates and understands LiteLLM's `provider/model` refs; re-implementing that
in SQL would drift, so every build asks genai-prices itself (`DataSnapshot.find_provider_model`,
the function `calc_price` uses) here, in Python, and dbt reads the answers as reference data on
any engine (no dbt Python model, which dbt-spark runs only on Databricks):

- `reference/model_refs.parquet`: one row per (provider, model) pair of the model-call events
  of the lake, lower-cased and trimmed as staging does, with `price_provider_id` and
  `price_model_id` (the provider that lists the model in genai-prices, openai for Azure's
  gpt-4o; NULL for a pair genai-prices does not know) and the `genai_prices_version` that
  resolved it;
- `reference/committed_loads.parquet`: the loads that had a commit record when this ran, one
  row per load with its commit record (`lake_files`, the loader's counts, `seconds`) and
  `load_started_at`, the UTC time its id starts with. dbt reads exactly these loads, so every
  pair it prices was resolved here; a load that commits later waits for the next build;
- `reference/quarantine_files.parquet`: the names of the complete quarantine files
  (`quarantine/*.jsonl`, not a temporary `.` file) when this ran: Spark SQL cannot list
  files, so both engines take the list from here.

A resolution depends only on the pair and the genai-prices release, so a build scans only the
files of loads it has not seen and asks genai-prices about new pairs only.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import genai_prices
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.fsync import write_parquet_atomic
from ingestion.lake.store import Lake
from ingestion.settings import DBT_PROJECT_DIR
from ingestion.validation.names import normalised_name_sql

MODEL_CALL_TYPES = ("model_call.completed", "model_call.failed")
REFS_SCHEMA = pa.schema(
    [
        ("provider", pa.string()),
        ("model", pa.string()),
        ("price_provider_id", pa.string()),
        ("price_model_id", pa.string()),
        ("genai_prices_version", pa.string()),
    ]
)
# The counts of a commit record (ingestion/files/loader.py's LoadSummary), NULL where an older
# record lacks one.
COMMIT_COUNTS = (
    "files_seen",
    "files_loaded",
    "files_skipped",
    "accepted",
    "quarantined",
    "duplicates",
    "conflicting_duplicates",
    "conflicting_model_calls",
    "conflicting_run_completions",
    "blank_lines",
    "incomplete_lines",
    "lake_files",
)
LOADS_SCHEMA = pa.schema(
    [
        ("load_id", pa.string()),
        *((name, pa.int64()) for name in COMMIT_COUNTS),
        ("seconds", pa.float64()),
        ("load_started_at", pa.timestamp("us", tz="UTC")),
    ]
)
QUARANTINE_FILES_SCHEMA = pa.schema([("quarantine_file", pa.string())])
# Past this many new loads, one scan of the whole lake beats a glob per load.
_GLOB_PER_LOAD_MAX = 200

Pair = tuple[str | None, str | None]
Ids = tuple[str | None, str | None]


class ModelRefsError(Exception):
    """The price book seeds and the installed genai-prices disagree."""


def refs_path(base: Path) -> Path:
    return base / "reference" / "model_refs.parquet"


def loads_path(base: Path) -> Path:
    return base / "reference" / "committed_loads.parquet"


def seeds_version(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """The genai-prices release the price book seeds were exported from."""
    with open(project_dir / "seeds" / "price_book_source.csv", newline="") as fh:
        return next(csv.DictReader(fh))["package_version"]


def check_seeds(project_dir: Path = DBT_PROJECT_DIR) -> None:
    exported = seeds_version(project_dir)
    if exported != genai_prices.__version__:
        raise ModelRefsError(
            f"the price book seeds were exported from genai-prices {exported} but "
            f"{genai_prices.__version__} is installed; install the pinned version or run "
            "`agentops-wh pricebook export` and commit the seeds"
        )


def resolve_pairs(pairs: list[Pair]) -> dict[Pair, Ids]:
    """(price_provider_id, price_model_id) per pair as genai-prices resolves it, else Nones."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    owners = {id(info): p.id for p in snapshot.providers for info in p.models}
    out: dict[Pair, Ids] = {}
    for provider, model in pairs:
        if not provider or not model:
            out[provider, model] = (None, None)
            continue
        try:
            _, info = snapshot.find_provider_model(model, None, provider, None)
        except LookupError:
            out[provider, model] = (None, None)
            continue
        out[provider, model] = (owners[id(info)], info.id)
    return out


def quarantine_files_path(base: Path) -> Path:
    return base / "reference" / "quarantine_files.parquet"


def load_started_at(load_id: str) -> datetime | None:
    """The UTC time a load id starts with (`L<%Y%m%dT%H%M%S%f>_<random>`), else None."""
    try:
        return datetime.strptime(load_id[1:22], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        return None


def _number(value: object, kind: type) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


def committed_loads(base: Path) -> dict[str, dict[str, Any]]:
    """load_id -> its commit record as a LOADS_SCHEMA row, of every load committed now.

    A record that cannot be read counts its load's lake files from the folder (the load is
    committed: its files are in place) and leaves the loader's other counts NULL.
    """
    lake = Lake(base)
    loads: dict[str, dict[str, Any]] = {}
    for load_id in sorted(lake.committed_load_ids()):
        try:
            record = json.loads((lake.loads_dir / f"{load_id}.json").read_bytes())
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict):
            record = {}
        row: dict[str, Any] = {name: _number(record.get(name), int) for name in COMMIT_COUNTS}
        if row["lake_files"] is None:
            row["lake_files"] = sum(1 for _ in lake.events_dir.glob(f"*/{load_id}-*.parquet"))
        row.update(
            load_id=load_id,
            seconds=_number(record.get("seconds"), float),
            load_started_at=load_started_at(load_id),
        )
        loads[load_id] = row
    return loads


def quarantine_files(base: Path) -> list[str]:
    """Names of the complete quarantine files (a file is written under a '.' name, then
    renamed, and never changes after)."""
    folder = base / "quarantine"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob("*.jsonl") if not p.name.startswith("."))


def lake_pairs(base: Path, load_ids: list[str]) -> set[Pair]:
    """Distinct (provider, model) of the model-call events of `load_ids`, as staging has them."""
    if not load_ids:
        return set()
    events = Lake(base).events_dir
    if len(load_ids) <= _GLOB_PER_LOAD_MAX:
        files = [str(events / "*" / f"{load_id}-*.parquet") for load_id in load_ids]
    else:
        files = [str(events / "*" / "*.parquet")]
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"select distinct {normalised_name_sql('model_call.provider')}, "
            f"{normalised_name_sql('model_call.model')} "
            "from read_parquet(?, union_by_name = true) "
            "where event_type in ? and load_id in (select unnest(?))",
            [files, list(MODEL_CALL_TYPES), load_ids],
        ).fetchall()
    finally:
        con.close()
    return {(p, m) for p, m in rows}


def _read_refs(base: Path) -> dict[Pair, tuple[str | None, str | None, str]]:
    path = refs_path(base)
    if not path.exists():
        return {}
    rows = pq.read_table(path).to_pylist()
    return {
        (r["provider"], r["model"]): (
            r["price_provider_id"],
            r["price_model_id"],
            r["genai_prices_version"],
        )
        for r in rows
    }


def write_model_refs_reference(base: Path) -> list[Path]:
    """Resolve the pairs of loads not seen yet; write the reference files (atomically).

    The loads are listed first and their files scanned after: a committed load's files are
    complete, so every pair of a listed load is resolved. Returns the paths written.
    """
    check_seeds()
    version = genai_prices.__version__
    loads = committed_loads(base)
    known = _read_refs(base)
    seen: set[str] = set()
    if known and loads_path(base).exists():
        seen = set(pq.read_table(loads_path(base), columns=["load_id"])["load_id"].to_pylist())
    new_loads = [
        load_id for load_id, row in loads.items() if row["lake_files"] and load_id not in seen
    ]
    pairs = set(known) | lake_pairs(base, new_loads)
    ask = sorted(
        (pair for pair in pairs if pair not in known or known[pair][2] != version),
        key=lambda pair: (pair[0] or "", pair[1] or ""),
    )
    resolved = {pair: (*ids, version) for pair, ids in resolve_pairs(ask).items()} if ask else {}
    refs = {**known, **resolved}
    rows = sorted(refs.items(), key=lambda item: (item[0][0] or "", item[0][1] or ""))
    write_parquet_atomic(
        pa.table(
            {
                "provider": [p for (p, _), _ in rows],
                "model": [m for (_, m), _ in rows],
                "price_provider_id": [ids[0] for _, ids in rows],
                "price_model_id": [ids[1] for _, ids in rows],
                "genai_prices_version": [ids[2] for _, ids in rows],
            },
            schema=REFS_SCHEMA,
        ),
        refs_path(base),
    )
    write_parquet_atomic(
        pa.Table.from_pylist(list(loads.values()), schema=LOADS_SCHEMA), loads_path(base)
    )
    write_parquet_atomic(
        pa.table({"quarantine_file": quarantine_files(base)}, schema=QUARANTINE_FILES_SCHEMA),
        quarantine_files_path(base),
    )
    return [refs_path(base), loads_path(base), quarantine_files_path(base)]

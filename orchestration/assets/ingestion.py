"""`lake_events`: new landing files and write-ahead leftovers, loaded into the Parquet lake."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

from pathlib import Path

import dagster as dg

from ingestion.files.loader import LoadSummary, expand_paths, load_paths
from ingestion.http.wal import flush_wal
from ingestion.lake.store import Lake
from ingestion.validation.redaction import Redactor
from orchestration.resources import WarehouseResource

# Metadata of every lake_events materialization: the latest commit the lake held after it.
LAKE_COMMIT = "lake_commit"


def newest_commit(data_dir: Path) -> str | None:
    """The id of the lake's latest committed load (load ids sort by their UTC time)."""
    return max(Lake(data_dir).committed_load_ids(), default=None)


@dg.asset(
    key="lake_events",
    group_name="ingestion",
    kinds={"parquet"},
    description=(
        "Accepted events in the Parquet lake ($AGENTOPS_DATA_DIR/lake/events). Each run loads "
        "the complete lines of every new or grown JSONL file under $AGENTOPS_DATA_DIR/landing/ "
        "(already loaded files are skipped by content hash; invalid lines go to quarantine) and "
        "flushes write-ahead segments the HTTP loader left behind. Loads the running HTTP "
        "loader commits are recorded as materializations by lake_commits_sensor."
    ),
)
def lake_events(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    base = warehouse.base()
    wal = flush_wal(base)
    if wal.segments:
        context.log.info(wal.describe())
    for error in wal.errors:
        context.log.error(error)
    landing = warehouse.landing_dir
    landing.mkdir(parents=True, exist_ok=True)
    summary = LoadSummary(load_id="")
    if expand_paths([landing]):
        summary = load_paths(
            [landing],
            base,
            grace_seconds=warehouse.landing_grace_seconds,
            redactor=Redactor.from_env(),
        )
    if summary.quarantined:
        context.log.warning(
            f"{summary.quarantined} line(s) quarantined ({summary.by_reason}); "
            f"see {summary.quarantine_file}"
        )
    context.log.info(
        f"loaded {summary.accepted} event(s) from {summary.files_loaded} landing file(s) "
        f"({summary.files_skipped} already loaded, {summary.incomplete_lines} incomplete "
        f"last line(s) held back) and {wal.accepted} from {wal.loaded} WAL segment(s)"
    )
    return dg.MaterializeResult(
        metadata={
            "accepted": summary.accepted + wal.accepted,
            "quarantined": summary.quarantined + wal.quarantined,
            "duplicates": summary.duplicates + wal.duplicates,
            "landing_files_loaded": summary.files_loaded,
            "landing_files_skipped": summary.files_skipped,
            "incomplete_lines_held_back": summary.incomplete_lines,
            "wal_segments_flushed": wal.loaded,
            "wal_owned_by_running_server": wal.server_running,
            "quarantine_reasons": dg.MetadataValue.json(summary.by_reason),
            "load_id": summary.load_id or "(nothing to load)",
            LAKE_COMMIT: newest_commit(base) or "",
        }
    )

"""The dbt subprocess of `agentops-wh build`: dbt's own CLI, then a quick, clean exit.

`profiles.yml` keeps the build database open for the whole run (`keep_open`), so DuckDB loads
its catalog once instead of at every node. When dbt is done this closes the database
explicitly (DuckDB checkpoints it), flushes dbt's logs and leaves with `os._exit`: tearing the
interpreter down with dbt's manifest and DuckDB's buffers in memory took seconds at 10M events
and does nothing that matters once the database is closed.

Builds pass `--no-write-json`: dbt would otherwise serialise the whole manifest (several MB)
to target/manifest.json on every build, about half a second that nothing here reads. This
writes target/run_results.json itself, one entry per node with dbt's own field names
(`unique_id`, `status`, `message`, `execution_time`), which is what `agentops-wh build` reads.

    python -m orchestration.warehouse.dbt_main build --project-dir ... (any dbt arguments)
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path


def _close_duckdb() -> None:
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None and getattr(env, "conn", None) is not None:
        env.conn.close()
        env.conn = None


def _write_run_results(args: list[str], result: object) -> None:
    """target/run_results.json for a run whose `--no-write-json` left it unwritten."""
    results = getattr(result, "results", None)
    if "--no-write-json" not in args or "--target-path" not in args or results is None:
        return
    target = Path(args[args.index("--target-path") + 1])
    rows = [
        {
            "unique_id": r.node.unique_id,
            "status": str(r.status),
            "message": r.message,
            "execution_time": r.execution_time,
        }
        for r in results
    ]
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "run_results.json.tmp"
    tmp.write_text(json.dumps({"results": rows}, indent=1))
    os.replace(tmp, target / "run_results.json")


def main() -> None:
    from dbt.cli.main import dbtRunner

    args = sys.argv[1:]
    outcome = dbtRunner().invoke(args)
    if outcome.exception is not None:
        print(f"dbt could not run: {outcome.exception}", file=sys.stderr)
        code = 2
    else:
        code = 0 if outcome.success else 1
        _write_run_results(args, outcome.result)
    _close_duckdb()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

"""The dbt subprocess of `agentops-wh build`: dbt's own CLI, then a quick, clean exit.

`profiles.yml` keeps the build database open for the whole run (`keep_open`), so DuckDB loads
its catalog once instead of at every node. When dbt is done this closes the database
explicitly (DuckDB checkpoints it), flushes dbt's logs and leaves with `os._exit`: tearing the
interpreter down with dbt's manifest and DuckDB's buffers in memory took seconds at 10M events
and does nothing that matters once the database is closed.

    python -m ingestion.dbt_main build --project-dir ... (any dbt arguments)
"""

from __future__ import annotations

import logging
import os
import sys


def _close_duckdb() -> None:
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None and getattr(env, "conn", None) is not None:
        env.conn.close()
        env.conn = None


def main() -> None:
    from dbt.cli.main import cli

    try:
        cli()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    _close_duckdb()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

"""`agentops-wh dashboard`: start the Streamlit app (app/streamlit_app.py) on the warehouse.

The app only reads `$AGENTOPS_DATA_DIR/warehouse.duckdb` (read-only, a short connection per
query), so it can run while loads and builds go on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ingestion.settings import PROJECT_ROOT

APP = PROJECT_ROOT / "app" / "streamlit_app.py"


def streamlit_command(
    port: int = 8501,
    address: str = "127.0.0.1",
    headless: bool = True,
    extra: list[str] | None = None,
) -> list[str]:
    """The `streamlit run` command line the subcommand executes."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true" if headless else "false",
        # Usage statistics would phone home from a machine that may have no network.
        "--browser.gatherUsageStats", "false",
        # The app reads a published file, it is not edited in place: no file watcher.
        "--server.fileWatcherType", "none",
        # For viewers: no Deploy button or developer menu in the header.
        "--client.toolbarMode", "viewer",
        *(extra or []),
    ]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    # Absolute, so the app finds the same folder whatever its working directory.
    data_dir = args.data_dir or os.environ.get("AGENTOPS_DATA_DIR", "data")
    os.environ["AGENTOPS_DATA_DIR"] = str(Path(data_dir).resolve())
    if args.refresh is not None:
        os.environ["AGENTOPS_DASHBOARD_REFRESH"] = str(args.refresh)
    extra = list(args.streamlit_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    cmd = streamlit_command(args.port, args.address, not args.browser, extra)
    print(f"dashboard: http://{args.address}:{args.port}  (Ctrl+C stops it)", file=sys.stderr)
    sys.stderr.flush()
    if os.name == "posix":
        # Become Streamlit, so a signal to this process (Ctrl+C, a supervisor's TERM) reaches
        # the server itself rather than orphaning it.
        os.execv(cmd[0], cmd)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="start the Streamlit dashboard on the published warehouse",
        description="Start the Streamlit dashboard. It reads $AGENTOPS_DATA_DIR/warehouse.duckdb "
        "read-only; run `agentops-wh build` to publish one.",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("AGENTOPS_DASHBOARD_PORT", 8501)),
        help="port to listen on (default: %(default)s)",
    )
    p.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to bind (default: %(default)s; 0.0.0.0 to share on a network)",
    )
    p.add_argument("--data-dir", help="data folder (default: $AGENTOPS_DATA_DIR or ./data)")
    p.add_argument(
        "--refresh",
        type=float,
        help="seconds between automatic page refreshes (default: 60; 0 turns off)",
    )
    p.add_argument(
        "--browser",
        action="store_true",
        help="open a browser tab (default: headless, just print the URL)",
    )
    p.add_argument(
        "streamlit_args",
        nargs=argparse.REMAINDER,
        help="anything after `--` goes to `streamlit run` as is",
    )
    p.set_defaults(func=run)  # fmt: skip

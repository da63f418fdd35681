"""`agentops-wh dashboard`: start the Streamlit app (app/streamlit_app.py) on the warehouse.

The app only reads `$AGENTOPS_DATA_DIR/warehouse.duckdb` (read-only, a short connection per
query), so it can run while loads and builds go on.

Who may see it is decided before it starts. With sign-in configured (an `[auth]` section in
Streamlit's secrets) the access file `$AGENTOPS_ACCESS_FILE` must exist and be valid, or the
command stops with the file's line and what to write. Without sign-in the dashboard is for
local use: it listens on 127.0.0.1, and another address is refused unless
`--insecure-allow-remote` is given.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from ingestion import access
from ingestion.settings import PROJECT_ROOT

APP = PROJECT_ROOT / "app" / "streamlit_app.py"


class DashboardConfigError(ValueError):
    """The dashboard must not start as configured; the message says what to change."""


def secrets_files(explicit: str | None = None) -> list[Path]:
    """The secrets files Streamlit will read: `explicit`, or its defaults (the user's and the
    working directory's `.streamlit/secrets.toml`)."""
    if explicit:
        return [Path(explicit)]
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]


def signin_configured(files: list[Path]) -> bool:
    """True when one of the secrets files has an `[auth]` section."""
    for path in files:
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DashboardConfigError(f"the secrets file {path} could not be read: {exc}") from exc
        if isinstance(data.get("auth"), dict):
            return True
    return False


def check_access(address: str, allow_remote: bool, secrets: str | None = None) -> bool:
    """Whether sign-in is on; DashboardConfigError when the dashboard must not start so."""
    files = secrets_files(secrets)
    if secrets and not files[0].is_file():
        raise DashboardConfigError(f"the secrets file {secrets} does not exist")
    if signin_configured(files):
        path = access.access_file()
        if path is None:
            raise DashboardConfigError(
                f"sign-in is configured but ${access.ACCESS_FILE_ENV} is not set: name the "
                'access file that says who sees which tenants (README, "Sign-in and access")'
            )
        try:
            access.load(path)
        except access.AccessFileError as exc:
            raise DashboardConfigError(str(exc)) from exc
        return True
    if not access.is_loopback(address) and not allow_remote:
        raise DashboardConfigError(
            f"refusing to listen on {address} without sign-in: anyone who reaches it would see "
            "every tenant. Configure sign-in ([auth] in .streamlit/secrets.toml and "
            f'${access.ACCESS_FILE_ENV}; README, "Sign-in and access"), put it behind a '
            "signing-in proxy, or pass --insecure-allow-remote if that is really meant"
        )
    return False


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
    try:
        signin = check_access(args.address, args.insecure_allow_remote, args.secrets)
    except DashboardConfigError as exc:
        print(f"agentops-wh dashboard: {exc}", file=sys.stderr)
        return 2
    if args.insecure_allow_remote:
        # Read by the app: it then warns instead of refusing to show anything.
        os.environ[access.INSECURE_REMOTE_ENV] = "1"
    if args.secrets:
        extra = ["--secrets.files", str(Path(args.secrets).resolve()), *extra]
    cmd = streamlit_command(args.port, args.address, not args.browser, extra)
    mode = "sign-in required" if signin else "local use, no sign-in"
    print(f"dashboard ({mode}): http://{args.address}:{args.port}", file=sys.stderr)
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
        help="address to bind (default: %(default)s; another address needs sign-in, or "
        "--insecure-allow-remote)",
    )
    p.add_argument(
        "--insecure-allow-remote",
        action="store_true",
        help="listen on a non-loopback --address without sign-in: anyone who reaches it sees "
        "every tenant",
    )
    p.add_argument(
        "--secrets",
        help="Streamlit secrets file with the [auth] sign-in section (default: "
        "~/.streamlit/secrets.toml and ./.streamlit/secrets.toml)",
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

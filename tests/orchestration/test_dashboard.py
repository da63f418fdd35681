"""`agentops-wh dashboard`: the Streamlit command line it runs and its flags."""

from __future__ import annotations

from orchestration.cli import build_parser
from orchestration.dashboard import APP, streamlit_command


def test_dashboard_command_runs_the_app_headless() -> None:
    cmd = streamlit_command(port=9999)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(APP)
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags["--server.port"] == "9999"
    assert flags["--server.headless"] == "true"
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert APP.exists()


def test_dashboard_subcommand_is_registered() -> None:
    args = build_parser("dashboard").parse_args(
        ["dashboard", "--port", "8600", "--refresh", "0", "--", "--theme.base", "dark"]
    )
    assert args.port == 8600 and args.refresh == 0
    assert args.streamlit_args[-2:] == ["--theme.base", "dark"]
    assert callable(args.func)

"""`agentops-wh dashboard`: the Streamlit command line it runs and its flags."""

from __future__ import annotations

from orchestration.cli import build_parser, main
from orchestration.dashboard import APP, check_access, streamlit_command


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


def test_without_sign_in_only_the_loopback_is_served(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["dashboard", "--address", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 without sign-in" in err
    assert "--insecure-allow-remote" in err
    assert check_access("127.0.0.1", allow_remote=False) is False
    assert check_access("0.0.0.0", allow_remote=True) is False


def test_with_sign_in_a_bad_access_file_is_refused_at_start(tmp_path, monkeypatch, capsys):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback"\n')
    monkeypatch.delenv("AGENTOPS_ACCESS_FILE", raising=False)
    argv = ["dashboard", "--address", "0.0.0.0", "--secrets", str(secrets)]
    assert main(argv) == 2
    assert "AGENTOPS_ACCESS_FILE is not set" in capsys.readouterr().err
    bad = tmp_path / "access.yaml"
    bad.write_text("rules:\n  - email: ana@acme.example\n    tenants: [acme]\n  - group: ops\n")
    monkeypatch.setenv("AGENTOPS_ACCESS_FILE", str(bad))
    assert main(argv) == 2
    assert f"{bad}, line 4: the rule has no `tenants`" in capsys.readouterr().err
    bad.write_text("rules:\n  - group: ops\n    tenants: '*'\n")
    # A good file with sign-in: any address may be bound.
    assert check_access("0.0.0.0", allow_remote=False, secrets=str(secrets)) is True

"""The dashboard in a real browser: `streamlit run` serves it on 127.0.0.1, Debian's headless
Chromium opens every page (and two shared links), finds no Streamlit exception box, and saves a
screenshot of each under the pytest tmp dir.

Without Chromium the test skips on a developer machine, but fails in CI (CI or
AGENTOPS_REQUIRE_BROWSER set), where .ci/run installs it: there it must run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest

from orchestration.dashboard import streamlit_command
from tests.app.browser import Browser, browser_required, find_chromium
from tests.app.conftest import scalar, usd
from tests.app.oidc_provider import oidc_provider

pytestmark = pytest.mark.slow

# URL path -> the page's title.
PAGES = {
    "": "Overview",
    "overview": "Overview",  # the default page by its name too
    "failures": "Failures",
    "traces": "Traces",
    "cost": "Cost",
    "budgets": "Budgets",
    "governance": "Governance",
    "data-health": "Data health",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        message = "Chromium is not installed (apt-get install -y chromium)"
        if browser_required():
            pytest.fail(f"{message}; CI must run the browser test")
        pytest.skip(message)
    return path


@contextmanager
def streamlit_server(
    data_dir: Path, log: Path, port: int | None = None, extra: list[str] | None = None, **env: str
) -> Iterator[str]:
    """`streamlit run` of the app as `agentops-wh dashboard` starts it; yields its URL."""
    port = port or _free_port()
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data_dir), **env}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            streamlit_command(port=port, extra=extra),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


@pytest.fixture(scope="module")
def server(warehouse_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with streamlit_server(warehouse_dir, log) as url:
        yield url


def test_every_page_in_a_real_browser(
    chromium: str,
    server: str,
    warehouse_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = tmp_path_factory.mktemp("screenshots")
    run_id = scalar(
        warehouse_dir,
        "select run_id from marts.fct_runs where run_status = 'failed' order by run_id limit 1",
    )
    tenant = scalar(warehouse_dir, "select min(tenant_id) from marts.fct_runs")
    visits = [(path, title, path or "home") for path, title in PAGES.items()]
    # Shared links: a trace, and a filtered view.
    visits.append((f"traces?{urlencode({'run': run_id})}", "Traces", "trace-link"))
    visits.append(
        (f"cost?{urlencode({'tenant': tenant, 'range': 'All time'})}", "Cost", "cost-link")
    )
    browser = Browser(chromium, shots / "profile")
    problems = []
    try:
        for path, title, name in visits:
            report = browser.open(f"{server}/{path}", shots / f"{name}.png")
            if report.exceptions or report.errors:
                problems.append((path, report.exceptions + report.errors))
            if "Traceback" in report.text or "Page not found" in report.text:
                problems.append((path, report.text[:2000]))
            if title not in report.text or "data as of" not in report.text:
                problems.append((path, f"page did not render: {report.text[:1000]!r}"))
            if "Deploy" in report.text:
                problems.append((path, "Streamlit's Deploy button is in the header"))
            assert report.screenshot.stat().st_size > 10_000, f"blank screenshot for {path}"
            if name == "trace-link":
                assert run_id in report.text, "the shared trace link opens its run"
            if name == "cost-link":
                assert "All time" in report.text and tenant in report.text
        # The widest pages at the two common laptop and desktop widths.
        for width in (1280, 1600):
            browser.width = width
            for path in ("", "cost", "budgets"):
                report = browser.open(f"{server}/{path}", shots / f"{path or 'home'}-{width}.png")
                if report.exceptions or report.errors:
                    problems.append((f"{path} at {width}px", report.exceptions + report.errors))
    finally:
        browser.close()
    print(f"screenshots: {shots}")
    assert not problems, problems


# Two users of the provider: ana sees tenant acme only, pat (group platform) every tenant.
USERS = {
    "ana": {"email": "ana@acme.example", "email_verified": True},
    "pat": {"email": "pat@platform.example", "groups": ["platform"]},
}
ACCESS = """\
rules:
  - email: ana@acme.example
    tenants: [acme]
  - group: platform
    tenants: "*"
"""


@pytest.fixture(scope="module")
def signin_server(warehouse_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard with sign-in through a local OpenID Connect provider."""
    base = tmp_path_factory.mktemp("signin")
    port = _free_port()
    with oidc_provider(USERS) as issuer:
        secrets = base / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "browser-test-cookie-secret"\n'
            'client_id = "agentops-dashboard"\n'
            'client_secret = "browser-test-client-secret"\n'
            f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n'
        )
        (base / "access.yaml").write_text(ACCESS)
        with streamlit_server(
            warehouse_dir,
            base / "server.log",
            port=port,
            extra=["--secrets.files", str(secrets)],
            AGENTOPS_ACCESS_FILE=str(base / "access.yaml"),
        ) as url:
            yield url


def sign_in(tab, user: str) -> None:
    """From the sign-in page: the button, the provider's page, the user's button."""
    tab.click('[data-testid="stButton"] button', "Sign in")
    tab.click(f'button[name="sub"][value="{user}"]')


def test_two_users_sign_in_and_see_their_tenants(
    chromium: str,
    signin_server: str,
    warehouse_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = tmp_path_factory.mktemp("signin-screenshots")
    url = signin_server
    runs = {
        tenant: scalar(
            warehouse_dir,
            "select run_id from marts.fct_runs where tenant_id = ? order by run_id limit 1",
            [tenant],
        )
        for tenant in ("acme", "globex")
    }

    def per_tenant(query: str) -> tuple[int | object, int | object]:
        """(acme's figure, everyone's) of a `select <figure> from <table> where {t}` query."""
        acme = scalar(warehouse_dir, query.format(t="tenant_id = 'acme'"))
        return acme, scalar(warehouse_dir, query.format(t="true"))

    runs_n = per_tenant("select count(*) from marts.fct_runs where {t}")
    spend = per_tenant("select sum(cost_usd) from marts.fct_model_calls where {t}")
    # Per page: a figure it shows, and the same figure in SQL over acme's rows only.
    figures = {
        "Failures": ("Failures", "select count(*) from marts.fct_failures where {t}"),
        "Traces": (
            "Model calls",  # of the newest finished run, which the page opens
            "select model_calls from marts.fct_runs where {t} and run_status != 'running' "
            "order by started_at desc, run_id limit 1",
        ),
        "Budgets": (
            "Budgets",
            "select count(*) from marts.budget_status where {t} and period_kind = 'current'",
        ),
        "Governance": ("Decisions", "select count(*) from marts.fct_policy_decisions where {t}"),
        "Data health": (
            "Events in the warehouse",
            "select count(*) from marts.fct_events where {t}",
        ),
    }
    want = {title: (label, f"{per_tenant(q)[0]:,}") for title, (label, q) in figures.items()}
    want["Overview"] = ("Runs", f"{runs_n[0]:,}")
    want["Cost"] = ("Spend", usd(spend[0]))
    others = ("globex", "initech")
    browser = Browser(chromium, shots / "profile")
    try:
        # ana opens a link to an acme trace while signed out: the sign-in page, nothing else;
        # after the provider she lands on the link she opened.
        link = f"{url}/traces?{urlencode({'tenant': 'acme', 'run': runs['acme']})}"
        with browser.tab() as tab:
            tab.goto(link)
            page = tab.report(shots / "signed-out.png")
            assert "Sign in" in page.text and "data as of" not in page.text, page.text[:500]
            assert runs["acme"] not in page.text
            sign_in(tab, "ana")
            tab.wait_for(f"location.href === {json.dumps(link)}")
            page = tab.report(shots / "ana-trace-link.png")
        assert "Signed in as ana@acme.example" in page.text, page.text[:500]
        assert runs["acme"] in page.text and "Traces" in page.text
        # Every page, all time: acme only, numbers as SQL filtered to acme.
        for path, title in PAGES.items():
            page = browser.open(f"{url}/{path}?range=All+time")  # no screenshot: time
            assert title in page.text and not page.exceptions and not page.errors, page.text[:800]
            assert not [t for t in others if t in page.text], (path, page.text[:2000])
            label, value = want[title]
            assert page.metrics[label] == value, (title, label, page.metrics)
        # A link to globex's trace: "not found", nothing of globex.
        page = browser.open(
            f"{url}/traces?{urlencode({'tenant': 'globex', 'run': runs['globex']})}",
            shots / "ana-globex-link.png",
        )
        assert "Not found" in page.text and runs["globex"] not in page.text
        assert not page.metrics and "globex" not in page.text
        # pat (group platform) signs in on a clean browser and sees every tenant.
        browser.clear_cookies()
        with browser.tab() as tab:
            tab.goto(f"{url}/?range=All+time")
            sign_in(tab, "pat")
            tab.wait_for(f"location.href === {json.dumps(url + '/?range=All+time')}")
            page = tab.report(shots / "pat-overview.png")
        assert "Signed in as pat@platform.example" in page.text, page.text[:500]
        assert page.metrics["Runs"] == f"{runs_n[1]:,}"
        assert page.metrics["Spend (by call time)"] == usd(spend[1])
        # Signing out ends the session: the next visit is the sign-in page again.
        with browser.tab() as tab:
            tab.goto(f"{url}/")
            tab.click('[data-testid="stSidebar"] button', "Sign out")
            # Streamlit clears its cookie, then hands over to the provider's end-session page.
            tab.wait_for(f"!location.href.startsWith({json.dumps(url)})")
        page = browser.open(f"{url}/")
        assert "Sign in" in page.text and "Signed in as" not in page.text
    finally:
        browser.close()
    print(f"screenshots: {shots}")

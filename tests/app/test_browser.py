"""The dashboard in a real browser: `streamlit run` serves it on 127.0.0.1, Debian's headless
Chromium opens every page (and two shared links), finds no Streamlit exception box, and saves a
screenshot of each under the pytest tmp dir.

Without Chromium the test skips on a developer machine, but fails in CI (CI or
AGENTOPS_REQUIRE_BROWSER set), where .ci/run installs it: there it must run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from orchestration.dashboard import streamlit_command
from tests.app.browser import Browser, browser_required, find_chromium
from tests.app.conftest import scalar

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


@pytest.fixture(scope="module")
def server(warehouse_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(warehouse_dir)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            streamlit_command(port=port), env=env, stdout=out, stderr=subprocess.STDOUT
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

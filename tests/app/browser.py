"""Drive Debian's headless Chromium over the DevTools protocol: open a Streamlit page, wait
until the script has finished and the charts are drawn, then read the DOM and screenshot it.

Chromium's own `--screenshot` fires before Streamlit's websocket delivers anything (virtual
time does not wait for websockets), hence the protocol. `websockets` comes with Streamlit.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]

# True once the page's script run is over and something is on screen.
_READY_JS = """
(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  const state = app.getAttribute('data-test-script-state');
  const running = document.querySelector('[data-testid="stStatusWidget"]');
  const skeleton = document.querySelector('[data-testid="stSkeleton"]');
  const title = document.querySelector('[data-testid="stMain"] h1');
  const busy = running && running.innerText.includes('Running');
  return state === 'notRunning' && !skeleton && !!title && !busy;
})()
"""

_CHARTS_DRAWN_JS = """
(() => {
  const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
  return Array.from(charts).every(c => c.querySelector('canvas, svg'));
})()
"""

_REPORT_JS = """
(() => ({
  exceptions: Array.from(document.querySelectorAll('[data-testid="stException"]'))
    .map(e => e.innerText.slice(0, 2000)),
  errors: Array.from(document.querySelectorAll('[data-testid="stAlertContentError"]'))
    .map(e => e.innerText.slice(0, 2000)),
  text: document.body.innerText,
  url: location.href,
  metrics: Object.fromEntries(Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
    .map(m => [m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim(),
               m.querySelector('[data-testid="stMetricValue"]')?.innerText.trim()])),
  height: Math.max(
    ...Array.from(document.querySelectorAll(
      '[data-testid="stMain"], [data-testid="stAppViewContainer"], ' +
      '[data-testid="stMainBlockContainer"]'
    )).map(e => e.scrollHeight), document.body.scrollHeight),
}))()
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    url: str
    exceptions: list[str]
    errors: list[str]
    text: str
    screenshot: Path | None
    metrics: dict[str, str] = field(default_factory=dict)
    final_url: str = ""


class Tab:
    """One tab kept open across navigations (a sign-in goes through several pages)."""

    def __init__(self, browser: Browser, ws: Any):
        self.browser, self.ws = browser, ws

    def eval(self, expression: str) -> Any:
        return self.browser._eval(self.ws, expression)

    def goto(self, url: str) -> None:
        self.browser._call(self.ws, "Page.navigate", url=url)
        time.sleep(0.3)  # let the old document go before anything waits on the new one

    def wait_for(self, expression: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.eval(expression):
                    return
            except RuntimeError:
                pass  # the page navigated away while evaluating
            time.sleep(0.2)
        raise TimeoutError(f"{expression!r} did not become true at {self.eval('location.href')}")

    def click(self, selector: str, text: str | None = None, timeout: float = 30) -> None:
        """Click the first element matching `selector` (whose text ends with `text`, if given:
        a Material icon's name comes first in a button's text)."""
        want = json.dumps(text)
        find = (
            f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
            f".find(e => {want} === null || e.innerText.trim().endsWith({want}))"
        )
        self.wait_for(f"!!({find})", timeout)
        self.eval(f"({find}).click()")

    def report(self, screenshot: Path | None = None, timeout: float = 60) -> PageReport:
        return self.browser._report(self.ws, self.eval("location.href"), screenshot, timeout)


class Browser:
    """One headless Chromium; `open()` loads a URL in a fresh tab and reports on it."""

    def __init__(self, executable: str, profile_dir: Path, width: int = 1440):
        self.width = width
        profile_dir.mkdir(parents=True, exist_ok=True)
        port_file = profile_dir / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a stale one from an earlier run would mislead
        self.proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        self.port = int(port_file.read_text().splitlines()[0])
        self._ids = itertools.count(1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def _http(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        try:
            return json.loads(body)
        except ValueError:  # /json/close answers in plain text
            return body.decode(errors="replace")

    @contextlib.contextmanager
    def _tab(self) -> Iterator[Any]:
        target = self._http("/json/new?about:blank", method="PUT")
        try:
            with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
                yield ws
        finally:
            with contextlib.suppress(OSError):
                self._http(f"/json/close/{target['id']}")

    def _call(self, ws: Any, method: str, **params: Any) -> dict:
        msg_id = next(self._ids)
        ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(ws.recv(timeout=60))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _eval(self, ws: Any, expression: str) -> Any:
        result = self._call(ws, "Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    @contextlib.contextmanager
    def tab(self) -> Iterator[Tab]:
        """A fresh tab for several navigations (cookies are the browser's, shared)."""
        with self._tab() as ws:
            self._call(ws, "Page.enable")
            self._call(ws, "Emulation.setDeviceMetricsOverride", width=self.width,
                       height=1000, deviceScaleFactor=1, mobile=False)  # fmt: skip
            yield Tab(self, ws)

    def clear_cookies(self) -> None:
        """Forget every sign-in (a second user signs in on a clean browser)."""
        with self._tab() as ws:
            self._call(ws, "Network.clearBrowserCookies")

    def open(self, url: str, screenshot: Path | None = None, timeout: float = 60) -> PageReport:
        with self.tab() as tab:
            tab.goto(url)
            return tab.report(screenshot, timeout)

    def _report(self, ws: Any, url: str, screenshot: Path | None, timeout: float) -> PageReport:
        """Wait until the Streamlit page has settled, then read it (and screenshot it whole,
        when `screenshot` names a file)."""
        deadline = time.monotonic() + timeout
        ready_since = None
        while time.monotonic() < deadline:
            ready = self._eval(ws, _READY_JS) and self._eval(ws, _CHARTS_DRAWN_JS)
            if ready:
                ready_since = ready_since or time.monotonic()
                if time.monotonic() - ready_since > 1.5:  # settled, not between reruns
                    break
            else:
                ready_since = None
            time.sleep(0.25)
        report = self._eval(ws, _REPORT_JS) or {}
        if screenshot is not None:
            height = int(min(max(report.get("height") or 1000, 800), 12000))
            self._call(ws, "Emulation.setDeviceMetricsOverride", width=self.width,
                       height=height, deviceScaleFactor=1, mobile=False)  # fmt: skip
            time.sleep(1.0)  # let the charts re-lay out at the new height
            shot = self._call(ws, "Page.captureScreenshot", format="png")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        return PageReport(
            url=url,
            exceptions=list(report.get("exceptions") or []),
            errors=list(report.get("errors") or []),
            text=str(report.get("text") or ""),
            screenshot=screenshot,
            metrics={k: v for k, v in (report.get("metrics") or {}).items() if k},
            final_url=str(report.get("url") or ""),
        )


def browser_required() -> bool:
    """In CI (or when asked) the browser test must run, so a missing Chromium fails it."""
    return bool(os.environ.get("CI") or os.environ.get("AGENTOPS_REQUIRE_BROWSER"))

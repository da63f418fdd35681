"""The HTTP loader as producers meet it: a real `agentops-wh serve` on 127.0.0.1, over HTTP.

One server (module-scoped) answers most tests; backpressure and the SIGKILL test start their
own. Every accepted event is then read back from the Parquet lake with DuckDB.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest

from tests.conftest import make_event

PROJECT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "orchestration.cli"]
RECENT = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
GLOBEX = {"tenant_id": "globex", "workspace_id": "globex-prod", "project_id": "bot"}

pytestmark = pytest.mark.slow


def ev(event_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid event of tenant acme, recent (inside the duplicate-detection window)."""
    return make_event(event_id=event_id, occurred_at=RECENT, **overrides)


def ndjson(events: list[Any]) -> bytes:
    return b"".join((e if isinstance(e, bytes) else orjson.dumps(e)) + b"\n" for e in events)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data_dir)}
    return subprocess.run([*CLI, *args], env=env, cwd=PROJECT, capture_output=True, text=True)


def create_token(data_dir: Path, tenant: str) -> str:
    out = cli(data_dir, "token", "create", "--tenant", tenant, "--json")
    assert out.returncode == 0, out.stderr
    return orjson.loads(out.stdout)["token"]


class ServerProcess:
    """`agentops-wh serve` in a child process (its own process group, log to a file)."""

    def __init__(self, data_dir: Path, *args: str, port: int | None = None):
        self.data_dir = data_dir
        self.args = args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = {**os.environ, "AGENTOPS_DATA_DIR": str(self.data_dir)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*CLI, "serve", "--port", str(self.port), *self.args],
                env=env,
                cwd=PROJECT,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not healthy in {timeout}s: {self.log.read_text()[-3000:]}")

    def http(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def wait_flushed(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if httpx.get(f"{self.url}/healthz", timeout=5).json()["wal_backlog_bytes"] == 0:
                return
            time.sleep(0.05)
        raise AssertionError("the WAL was not flushed in time")

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> bool:
        """SIGTERM; True if the server shut down cleanly (uvicorn re-raises the signal)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):  # the flusher's child, if still there
            os.killpg(self.proc.pid, signal.SIGKILL)
        clean = "Application shutdown complete" in self.log.read_text()
        return clean and self.proc.returncode in (0, -signal.SIGTERM)


def lake_ids(data_dir: Path) -> list[str]:
    files = list((data_dir / "lake" / "events").rglob("*.parquet"))
    if not files:
        return []
    con = duckdb.connect()
    try:
        glob = str(data_dir / "lake" / "events" / "**" / "*.parquet")
        rows = con.execute(f"SELECT event_id FROM read_parquet('{glob}')").fetchall()
    finally:
        con.close()
    return sorted(r[0] for r in rows)


def quarantined(data_dir: Path) -> list[dict]:
    out = []
    for p in sorted((data_dir / "quarantine").glob("*.jsonl")):
        out += [orjson.loads(line) for line in p.read_bytes().splitlines()]
    return out


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("http") / "data"
    data_dir.mkdir()
    tokens = {t: create_token(data_dir, t) for t in ("acme", "globex")}
    server = ServerProcess(
        data_dir,
        "--flush-interval",
        "0.3",
        "--max-body-bytes",
        "2000000",
        "--max-decompressed-bytes",
        "4000000",
        "--max-events",
        "1000",
    ).start()
    with server.http(tokens["acme"]) as acme:
        yield {"server": server, "data_dir": data_dir, "tokens": tokens, "acme": acme}
    assert server.stop(), server.log.read_text()[-3000:]


def post(client: httpx.Client, body: Any, **kw: Any) -> httpx.Response:
    if not isinstance(body, bytes):
        body = orjson.dumps(body)
        kw.setdefault("headers", {"Content-Type": "application/json"})
    return client.post("/v1/events", content=body, **kw)


# -- 202: the three body shapes and gzip ---------------------------------------------------------


def test_202_for_an_object_an_array_ndjson_and_gzip(srv: dict) -> None:
    acme, server = srv["acme"], srv["server"]
    r = post(acme, ev("shape-1"))
    assert r.status_code == 202
    assert r.json() == {
        "status": "accepted",
        "received": 1,
        "accepted": 1,
        "duplicates": 0,
        "rejected": 0,
    }
    assert post(acme, [ev("shape-2"), ev("shape-3")]).json()["accepted"] == 2
    nd = ndjson([ev("shape-4"), ev("shape-5")])
    r = acme.post("/v1/events", content=nd, headers={"Content-Type": "application/x-ndjson"})
    assert (r.status_code, r.json()["accepted"]) == (202, 2)
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    r = acme.post("/v1/events", content=gzip.compress(ndjson([ev("shape-6")])), headers=headers)
    assert (r.status_code, r.json()["accepted"]) == (202, 1)
    pretty = orjson.dumps(ev("shape-7"), option=orjson.OPT_INDENT_2)  # one event, many lines
    assert post(acme, pretty, headers={"Content-Type": "application/json"}).status_code == 202
    server.wait_flushed()
    ids = [i for i in lake_ids(srv["data_dir"]) if i.startswith("shape-")]
    assert ids == [f"shape-{i}" for i in range(1, 8)]


# -- 400 and 207 ---------------------------------------------------------------------------------


def test_400_lists_every_bad_event_and_stores_nothing(srv: dict) -> None:
    acme, server = srv["acme"], srv["server"]
    missing = ev("bad-missing")
    del missing["trace"]
    body = (
        b"["
        + orjson.dumps(ev("bad-ok"))
        + b","
        + orjson.dumps(missing)
        + b', {"event_id": "bad-dup", "event_id": "again"},'
        + orjson.dumps(ev("bad-tokens", resource_usage={"input_tokens": 1, "output_tokens": 2,
                                                         "total_tokens": 4}))
        + b"]"
    )  # fmt: skip
    r = post(acme, body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    answer = r.json()
    assert (answer["accepted"], answer["rejected"], answer["received"]) == (0, 3, 4)
    errors = {e["index"]: e for e in answer["errors"]}
    assert sorted(errors) == [1, 2, 3]
    assert errors[1]["event_id"] == "bad-missing"
    assert errors[1]["reason_code"] == "missing_field"
    assert errors[1]["errors"][0]["path"] == "/trace"
    assert errors[2]["reason_code"] == "duplicate_key"
    assert errors[2]["errors"][0]["path"] == "/event_id"
    assert errors[3]["reason_code"] == "total_tokens_mismatch"
    assert errors[3]["errors"][0]["path"] == "/resource_usage/total_tokens"
    assert "partial=true" in answer["message"]
    server.wait_flushed()
    assert not [i for i in lake_ids(srv["data_dir"]) if i.startswith("bad-")]
    q = [rec for rec in quarantined(srv["data_dir"]) if "bad-" in rec["raw"]]
    assert sorted(rec["reason_code"] for rec in q) == [
        "duplicate_key",
        "missing_field",
        "total_tokens_mismatch",
    ]
    assert {rec["source"] for rec in q} == {"http"}
    assert all(rec["line_no"] >= 2 and rec["errors"] and rec["quarantined_at"] for rec in q)


def test_207_with_partial_keeps_the_valid_events(srv: dict) -> None:
    acme, server = srv["acme"], srv["server"]
    lines = [
        orjson.dumps(ev("part-1")),
        b"",
        b'{"event_id": "part-2", "nope": NaN}',
        b"{not json",
        orjson.dumps(ev("part-3")),
    ]
    r = acme.post(
        "/v1/events?partial=true",
        content=b"\n".join(lines),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 207
    answer = r.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 2)
    assert [(e["index"], e["line_no"], e["reason_code"]) for e in answer["errors"]] == [
        (1, 3, "non_finite_number"),
        (2, 4, "invalid_json"),
    ]
    assert answer["errors"][0]["errors"][0]["path"] == "/nope"
    server.wait_flushed()
    assert [i for i in lake_ids(srv["data_dir"]) if i.startswith("part-")] == ["part-1", "part-3"]


def test_body_level_errors(srv: dict) -> None:
    acme = srv["acme"]
    r = post(acme, b"[1, 2", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["reason_code"]) == (400, "invalid_json")
    r = post(acme, b"   ", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["reason_code"]) == (400, "empty_body")
    r = post(acme, b"{}", headers={"Content-Type": "text/csv"})
    assert (r.status_code, r.json()["reason_code"]) == (415, "unsupported_media_type")
    r = post(acme, b"{}", headers={"Content-Type": "application/json", "Content-Encoding": "br"})
    assert r.status_code == 415


# -- 401 / 403 -----------------------------------------------------------------------------------


def test_401_without_a_valid_token(srv: dict) -> None:
    server = srv["server"]
    for token in (None, "aow_" + "x" * 43, srv["tokens"]["acme"][:-1]):
        with server.http(token) as c:
            r = post(c, ev("auth-1"))
            assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    with server.http(None) as c:
        r = c.post("/v1/events", content=b"{}", headers={"Authorization": "Basic abc"})
        assert r.status_code == 401


def test_revoked_token_is_refused_on_the_next_request(srv: dict) -> None:
    data_dir, server = srv["data_dir"], srv["server"]
    token = create_token(data_dir, "acme")
    with server.http(token) as c:
        assert post(c, ev("revoke-1")).status_code == 202
        listing = orjson.loads(cli(data_dir, "token", "list", "--json").stdout)
        token_id = next(t["token_id"] for t in listing if t["status"] == "active")
        for t in listing:  # revoke the newest one, the token of this test
            token_id = t["token_id"]
        assert cli(data_dir, "token", "revoke", token_id).returncode == 0
        assert post(c, ev("revoke-2")).status_code == 401


def test_403_for_another_tenants_event_and_nothing_of_the_batch_is_written(srv: dict) -> None:
    acme, server, data_dir = srv["acme"], srv["server"], srv["data_dir"]
    before = len(quarantined(data_dir))
    batch = [ev("tenant-1"), ev("tenant-2", tenant=GLOBEX), make_event(event_id="tenant-3", x=1)]
    r = post(acme, batch)
    assert r.status_code == 403
    assert r.json()["reason_code"] == "tenant_mismatch" and r.json()["indexes"] == [1]
    # globex's own token may post globex's event, not acme's
    with server.http(srv["tokens"]["globex"]) as globex:
        assert post(globex, [ev("tenant-4", tenant=GLOBEX)]).status_code == 202
        assert post(globex, [ev("tenant-5")]).status_code == 403
    server.wait_flushed()
    assert [i for i in lake_ids(data_dir) if i.startswith("tenant-")] == ["tenant-4"]
    assert len(quarantined(data_dir)) == before


# -- limits --------------------------------------------------------------------------------------


def test_413_body_decompressed_size_gzip_bomb_and_event_count(srv: dict) -> None:
    acme = srv["acme"]
    big = ndjson([ev(f"big-{i}") for i in range(4000)])  # ~2.6 MB > 2 MB
    r = acme.post("/v1/events", content=big, headers={"Content-Type": "application/x-ndjson"})
    assert (r.status_code, r.json()["reason_code"]) == (413, "body_too_large")
    bomb = gzip.compress(b" " * 8_000_000, compresslevel=9) * 25  # 200 MB in ~200 KB
    assert len(bomb) < 300_000
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    started = time.monotonic()
    r = acme.post("/v1/events", content=bomb, headers=headers)
    assert (r.status_code, r.json()["reason_code"]) == (413, "decompressed_too_large")
    assert time.monotonic() - started < 10  # stopped at the cap, not inflated to 200 MB
    many = ndjson([ev(f"many-{i}") for i in range(1001)])
    r = acme.post("/v1/events", content=many, headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 413 and r.json()["reason_code"] == "too_many_events"
    assert "1001 events" in r.json()["message"] and "1000" in r.json()["message"]


def test_event_size_and_nesting_depth_limits(srv: dict) -> None:
    acme, server = srv["acme"], srv["server"]
    # Text with spaces: a 300 KB run without one makes the shared redactor's e-mail pattern
    # quadratic (minutes), which is a redaction.py issue of its own.
    huge = ev("limit-huge", attributes={"prompt": "lorem ipsum dolor sit amet, " * 11_000})
    deep: Any = 1
    for _ in range(200):
        deep = {"a": deep}
    body = ndjson([ev("limit-ok"), huge, ev("limit-deep", attributes=deep), b"[" * 5000])
    r = acme.post(
        "/v1/events?partial=true", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert r.status_code == 207, r.text
    codes = [(e["line_no"], e["reason_code"]) for e in r.json()["errors"]]
    assert codes == [(2, "event_too_large"), (3, "nesting_too_deep"), (4, "nesting_too_deep")]
    assert "262144" in r.json()["errors"][0]["errors"][0]["message"]
    r = post(acme, [ev("limit-deep-array", attributes=deep)])
    assert r.status_code == 400 and r.json()["errors"][0]["reason_code"] == "nesting_too_deep"
    r = post(acme, b"[" * 3000 + b"]" * 3000, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["reason_code"]) == (400, "nesting_too_deep")
    server.wait_flushed()
    assert [i for i in lake_ids(srv["data_dir"]) if i.startswith("limit-")] == ["limit-ok"]


# -- duplicates ----------------------------------------------------------------------------------


def test_reposts_and_in_batch_repeats_are_duplicates_stored_once(srv: dict) -> None:
    acme, server = srv["acme"], srv["server"]
    batch = [ev(f"dup-{i}") for i in range(5)]
    assert post(acme, batch).json()["accepted"] == 5
    r = post(acme, [*batch, ev("dup-5"), ev("dup-5")])
    assert r.status_code == 202
    assert (r.json()["accepted"], r.json()["duplicates"]) == (1, 6)
    server.wait_flushed()
    assert [i for i in lake_ids(srv["data_dir"]) if i.startswith("dup-")] == [
        f"dup-{i}" for i in range(6)
    ]
    assert post(acme, batch).json()["duplicates"] == 5  # also once flushed into the lake


def test_event_ids_are_deduplicated_per_tenant(srv: dict) -> None:
    """One tenant can neither suppress nor probe another tenant's event ids."""
    acme, server = srv["acme"], srv["server"]
    assert post(acme, [ev("shared-1")]).json()["accepted"] == 1
    with server.http(srv["tokens"]["globex"]) as globex:
        r = post(globex, [ev("shared-1", tenant=GLOBEX)])
        assert (r.json()["accepted"], r.json()["duplicates"]) == (1, 0)


# -- operations ----------------------------------------------------------------------------------


def test_healthz_metrics_and_openapi(srv: dict) -> None:
    acme = srv["acme"]
    health = acme.get("/healthz").json()
    assert health["status"] == "ok" and health["lake_writable"] is True
    post(acme, [ev("metrics-1"), make_event(event_id="metrics-bad", x=1)], params={"partial": 1})
    text = acme.get("/metrics").text
    assert "# TYPE agentops_http_events_accepted_total counter" in text
    assert 'agentops_http_events_rejected_total{reason_code="unknown_field"}' in text
    assert "agentops_http_events_duplicate_total" in text
    assert 'agentops_http_request_duration_seconds_bucket{route="/v1/events",le="+Inf"}' in text
    assert "agentops_wal_backlog_bytes" in text
    assert 'agentops_http_requests_total{route="/v1/events",status="207"}' in text
    assert acme.get("/docs").status_code == 200
    spec = acme.get("/openapi.json").json()
    assert "AgentEvent" in spec["components"]["schemas"]
    assert "/v1/budgets/check" in spec["paths"]


def test_budget_check_reads_the_published_warehouse(srv: dict) -> None:
    acme, data_dir = srv["acme"], srv["data_dir"]
    r = acme.get("/v1/budgets/check", params={"project_id": "acme-prod-support"})
    assert r.status_code == 200
    assert r.json()["allowed"] is True and r.json()["note"] == "no warehouse published yet"
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=23)
    publish_budget_status(
        data_dir / "warehouse.duckdb",
        [
            ("support-weekly", "acme", "project", "acme-prod-support", "100", "120.5", "block",
             start, end),
            ("acme-daily", "acme", "tenant", "acme", "25", "30", "alert", start, end),
            ("agent-daily", "acme", "agent", "researcher", "10", "1", "block", start, end),
            ("old", "acme", "project", "acme-prod-support", "1", "5", "block",
             start - timedelta(days=2), start - timedelta(days=1)),
        ],
    )  # fmt: skip
    r = acme.get(
        "/v1/budgets/check",
        params={"project_id": "acme-prod-support", "agent_id": "researcher"},
    )
    answer = r.json()
    assert answer["allowed"] is False and answer["blocking"] == ["support-weekly"]
    by_id = {b["budget_id"]: b for b in answer["budgets"]}
    assert sorted(by_id) == ["acme-daily", "agent-daily", "old", "support-weekly"]
    assert by_id["support-weekly"]["spend_usd"] == "120.5"
    assert by_id["old"]["is_stale"] is True
    r = acme.get("/v1/budgets/check", params={"agent_id": "researcher"})
    assert r.json()["allowed"] is True  # the tenant's alert budget never blocks
    r = acme.get("/v1/budgets/check", params={"tenant_id": "globex"})
    assert r.status_code == 403


def test_budget_check_answers_a_token_with_its_own_tenants_budgets_only(srv: dict) -> None:
    """acme and globex both have a project called `shared-support`: each token sees its own
    budget on it only, whatever it asks for."""
    acme, server, data_dir = srv["acme"], srv["server"], srv["data_dir"]
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=23)
    publish_budget_status(
        data_dir / "warehouse.duckdb",
        [
            ("acme-support", "acme", "project", "shared-support", "100", "150", "block",
             start, end),
            ("acme-daily", "acme", "tenant", "acme", "25", "30", "block", start, end),
            ("globex-support", "globex", "project", "shared-support", "50", "7.25", "block",
             start, end),
        ],
    )  # fmt: skip
    with server.http(srv["tokens"]["globex"]) as globex:
        r = globex.get("/v1/budgets/check", params={"project_id": "shared-support"})
        assert r.status_code == 200
        answer = r.json()
        assert (answer["allowed"], answer["blocking"]) == (True, [])
        assert [(b["budget_id"], b["tenant_id"], b["spend_usd"]) for b in answer["budgets"]] == [
            ("globex-support", "globex", "7.25")
        ]
        # Asking for acme's data by name shows none of it.
        r = globex.get(
            "/v1/budgets/check", params={"tenant_id": "acme", "project_id": "shared-support"}
        )
        assert r.status_code == 403 and "acme-support" not in r.text and "150" not in r.text
    r = acme.get("/v1/budgets/check", params={"project_id": "shared-support"})
    answer = r.json()
    assert (answer["allowed"], answer["blocking"]) == (False, ["acme-daily", "acme-support"])
    assert sorted((b["budget_id"], b["spend_usd"]) for b in answer["budgets"]) == [
        ("acme-daily", "30"),
        ("acme-support", "150"),
    ]


def publish_budget_status(path: Path, rows: list[tuple]) -> None:
    """A warehouse holding marts.budget_status with the columns the dbt model publishes."""
    tmp = path.with_name("building.duckdb")
    con = duckdb.connect(str(tmp))
    con.execute("CREATE SCHEMA marts")
    con.execute(
        """CREATE TABLE marts.budget_status (
            budget_period_id VARCHAR, budget_id VARCHAR, tenant_id VARCHAR, period_kind VARCHAR,
            scope VARCHAR,
            scope_id VARCHAR, period VARCHAR, period_start TIMESTAMPTZ, period_end TIMESTAMPTZ,
            as_of TIMESTAMPTZ, limit_usd DECIMAL(38, 24), spend_usd DECIMAL(38, 24),
            pct_used DOUBLE, is_over_limit BOOLEAN, forecast_usd DECIMAL(38, 24),
            enforcement VARCHAR)"""
    )
    for budget_id, tenant_id, scope, scope_id, limit, spend, enforcement, start, end in rows:
        con.execute(
            "INSERT INTO marts.budget_status VALUES (?, ?, ?, 'current', ?, ?, 'daily', ?, ?, "
            "now(), ?, ?, 100.0 * ? / ?, ? >= ?, ?, ?)",
            [f"{budget_id}@current", budget_id, tenant_id, scope, scope_id, start, end, limit,
             spend,
             float(spend), float(limit), float(spend), float(limit), spend, enforcement],
        )  # fmt: skip
    con.execute(
        "INSERT INTO marts.budget_status SELECT * REPLACE ('previous' AS period_kind, "
        "budget_id || '@previous' AS budget_period_id, false AS is_over_limit) "
        "FROM marts.budget_status"
    )
    con.close()
    os.replace(tmp, path)


# -- secrets -------------------------------------------------------------------------------------


def test_no_token_secret_or_email_reaches_any_file_or_the_log(srv: dict) -> None:
    acme, server, data_dir = srv["acme"], srv["server"], srv["data_dir"]
    email, api_key = "jane.doe@example.com", "sk-proj-" + "A1b2C3d4" * 4
    token = srv["tokens"]["acme"]
    secret_attrs = {"user": email, "key": api_key, "leak": token}
    valid = ev("secret-1", attributes=secret_attrs)
    invalid = make_event(event_id=f"secret-{email}", occurred_at=RECENT, note=token)
    r = post(acme, [valid, invalid], params={"partial": "true"})
    assert r.status_code == 207
    assert email not in r.text and token not in r.text  # not even echoed back
    acme.get(f"/v1/budgets/check?agent_id={email}&x={token}")  # in the access log's URL
    with server.http(api_key) as c:  # a wrong token, which the log must not show either
        post(c, ev("secret-2"))
    server.wait_flushed()
    assert "secret-1" in lake_ids(data_dir)
    files = [p for p in data_dir.rglob("*") if p.is_file()] + [server.log]
    for p in files:
        data = p.read_bytes()
        if p.suffix == ".parquet":  # compressed: look at the decoded values instead
            con = duckdb.connect()
            data = str(con.execute(f"SELECT * FROM read_parquet('{p}')").fetchall()).encode()
            con.close()
        for needle in (email, api_key, token):
            assert needle.encode() not in data, f"{needle[:8]}... found in {p}"


# -- start-up, backpressure, durability ----------------------------------------------------------


def test_serve_refuses_to_start_without_a_token(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.cli import main

    assert main(["serve", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "token create --tenant" in err and "--insecure-dev" in err
    assert main(["serve", "--insecure-dev", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_a_second_server_on_the_same_data_dir_is_refused(srv: dict) -> None:
    out = cli(srv["data_dir"], "serve", "--port", str(free_port()))
    assert out.returncode == 2 and "another `agentops-wh serve`" in out.stderr


def test_insecure_dev_then_503_when_the_backlog_is_full_then_shutdown_flushes(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(
        data_dir, "--insecure-dev", "--max-backlog-bytes", "1", "--flush-interval", "3600"
    ).start()
    try:
        with server.http(None) as c:  # --insecure-dev: no token, any tenant
            assert post(c, [ev("bp-1"), ev("bp-2", tenant=GLOBEX)]).status_code == 202
            r = post(c, [ev("bp-3")])
            assert r.status_code == 503 and r.json()["reason_code"] == "backlog_full"
            assert float(r.headers["Retry-After"]) > 0
            assert c.get("/healthz").json()["wal_backlog_bytes"] > 1
            # Without tokens the server cannot tell whose budgets to check: it asks.
            r = c.get("/v1/budgets/check", params={"project_id": "acme-prod-support"})
            assert r.status_code == 400 and r.json()["reason_code"] == "missing_tenant"
            assert "pass ?tenant_id=<tenant>" in r.json()["message"]
            r = c.get("/v1/budgets/check", params={"tenant_id": "acme"})
            assert r.status_code == 200 and r.json()["budgets"] == []
    finally:
        assert server.stop()  # SIGTERM: a clean stop flushes the WAL into the lake
    assert lake_ids(data_dir) == ["bp-1", "bp-2"]
    assert not list((data_dir / "wal").glob("*.jsonl"))


def test_sigkill_after_202_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    token = create_token(data_dir, "acme")
    # A flush interval of an hour: nothing reaches the lake before the kill.
    first = ServerProcess(data_dir, "--flush-interval", "3600").start()
    accepted: list[str] = []
    with first.http(token) as c:
        for b in range(6):
            batch = [ev(f"kill-{b}-{i}") for i in range(50)]
            assert post(c, batch).status_code == 202
            accepted += [e["event_id"] for e in batch]
    first.kill()
    assert list((data_dir / "wal").glob("*.jsonl")) and lake_ids(data_dir) == []

    second = ServerProcess(data_dir, "--flush-interval", "0.2", port=first.port).start()
    try:
        second.wait_flushed()
        assert lake_ids(data_dir) == sorted(accepted)  # every accepted event, exactly once
        with second.http(token) as c:  # the lake primes duplicate detection after a restart
            r = post(c, [ev("kill-0-0"), ev("kill-5-49"), ev("kill-new")])
            assert (r.json()["accepted"], r.json()["duplicates"]) == (1, 2)
        second.wait_flushed()
    finally:
        assert second.stop()
    assert lake_ids(data_dir) == sorted([*accepted, "kill-new"])

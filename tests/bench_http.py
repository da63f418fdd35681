"""Benchmark of the HTTP loader: events/s accepted from concurrent clients beside the file loader.

The same generated events go through both paths in the same run, so the ratio means something
on a shared machine:

- file loader: `load_paths` on one JSONL file of the events (validate, redact, Parquet);
- HTTP loader: a real `agentops-wh serve` (child process) taking NDJSON batches of 500 from
  concurrent client threads. "accepted" is the rate of 202s (each one after an fsync of the
  write-ahead log); "in the lake" also waits for the flusher to turn the log into Parquet;
- OTLP: the same server taking as many GenAI `chat` spans as events, as OTLP protobuf exports
  of 512 spans (the SDK batch processor's default) on `POST /v1/traces`.

    python -m tests.bench_http 100000
"""

from __future__ import annotations

import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx

ROOT = Path(__file__).resolve().parents[1]
BATCH = 500


def make_lines(n_events: int, seed: int = 7) -> list[bytes]:
    """`n_events` valid events (one JSON line each) from the product's generator."""
    from ingestion.synthetic.generator import VALID, GeneratorConfig, generate_lines

    now = datetime.now(UTC).replace(microsecond=0)
    config = GeneratorConfig(
        start=now - timedelta(days=7),
        end=now,
        now=now,
        seed=seed,
        tenants=1,  # one tenant: the bench's token may post every event
        runs_per_day=max(1000.0, n_events / 7 / 5),  # more than enough; islice cuts
        max_events=n_events * 2,
    )
    valid = (line for line, kind in generate_lines(config) if kind == VALID)
    return list(itertools.islice(valid, n_events))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lake_count(base: Path) -> tuple[int, int]:
    glob = str(base / "lake" / "events" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        row = con.execute(
            f"SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{glob}')"
        ).fetchone()
    finally:
        con.close()
    return int(row[0]), int(row[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_file_loader(lines: list[bytes], tmp: Path) -> dict:
    from ingestion.files.loader import load_paths

    src = tmp / "events.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    base = tmp / "file-data"
    started = time.perf_counter()
    summary = load_paths([src], base, final=True)
    seconds = time.perf_counter() - started
    return {"events": summary.accepted, "seconds": seconds, "events_per_s": len(lines) / seconds}


def otlp_bodies(n_spans: int, per_export: int = 512) -> list[bytes]:
    """Protobuf exports of `n_spans` chat spans (each a model call of its trace's run)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    def attr(key: str, value: str | int) -> KeyValue:
        kv = KeyValue(key=key)
        if isinstance(value, int):
            kv.value.int_value = value
        else:
            kv.value.string_value = value
        return kv

    end = int(time.time() * 1e9) - 60 * 10**9
    bodies = []
    for first in range(0, n_spans, per_export):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(attr("service.name", "bench-agent"))
        ss = rs.scope_spans.add()
        for i in range(first, min(first + per_export, n_spans)):
            sp = ss.spans.add()
            sp.trace_id = (i // 8 + 1).to_bytes(16, "big")
            sp.span_id = (i + 1).to_bytes(8, "big")
            sp.parent_span_id = (10**9 + i // 8).to_bytes(8, "big")
            sp.name = "chat gpt-4o"
            sp.start_time_unix_nano = end - 900_000_000
            sp.end_time_unix_nano = end
            sp.attributes.extend(
                [
                    attr("gen_ai.operation.name", "chat"),
                    attr("gen_ai.provider.name", "openai"),
                    attr("gen_ai.request.model", "gpt-4o"),
                    attr("gen_ai.usage.input_tokens", 1000 + i % 500),
                    attr("gen_ai.usage.output_tokens", 100 + i % 50),
                    attr("gen_ai.usage.cache_read.input_tokens", i % 100),
                ]
            )
        bodies.append(request.SerializeToString())
    return bodies


def bench_server(
    lines: list[bytes],
    tmp: Path,
    clients: int,
    otlp: list[bytes] | None = None,
    expected: int | None = None,
) -> dict:
    """`lines` as NDJSON on /v1/events, or the `otlp` protobuf exports on /v1/traces."""
    base = tmp / ("otlp-data" if otlp else "http-data")
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(base)}
    cli = [sys.executable, "-m", "orchestration.cli"]
    out = subprocess.run(
        [*cli, "token", "create", "--tenant", _tenant_of(lines[0])],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    token = next(w for w in out.split() if w.startswith("aow_"))
    port = _free_port()
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--no-access-log"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        bodies: queue.Queue[bytes] = queue.Queue()
        for i in range(0, len(lines), BATCH):
            if otlp is None:
                bodies.put(b"\n".join(lines[i : i + BATCH]) + b"\n")
        for body in otlp or []:
            bodies.put(body)
        route, ctype = (
            ("/v1/traces", "application/x-protobuf")
            if otlp
            else (
                "/v1/events",
                "application/x-ndjson",
            )
        )
        latencies: list[float] = []
        statuses: list[int] = []
        lock = threading.Lock()

        def client() -> None:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
                while True:
                    try:
                        body = bodies.get_nowait()
                    except queue.Empty:
                        return
                    while True:
                        t0 = time.perf_counter()
                        resp = http.post(route, content=body)
                        elapsed = time.perf_counter() - t0
                        if resp.status_code == 503:  # backpressure: wait as told
                            time.sleep(float(resp.headers.get("Retry-After", "1")))
                            continue
                        with lock:
                            latencies.append(elapsed)
                            statuses.append(resp.status_code)
                        break

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted_s = time.perf_counter() - started
        while True:  # until the flusher has put everything into the lake
            health = httpx.get(f"{url}/healthz", timeout=30).json()
            if health["wal_backlog_bytes"] == 0:
                break
            time.sleep(0.1)
        in_lake_s = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    bad = [s for s in statuses if s != (200 if otlp else 202)]
    if bad:
        raise RuntimeError(f"{len(bad)} request(s) not accepted: {sorted(set(bad))}")
    n = expected if expected is not None else len(lines)
    rows, distinct = _lake_count(base)
    if (rows, distinct) != (n, n):
        raise RuntimeError(f"lake holds {rows} rows, {distinct} distinct, for {n} events")
    return {
        "events": n,
        "accepted_s": accepted_s,
        "accepted_per_s": n / accepted_s,
        "in_lake_s": in_lake_s,
        "in_lake_per_s": n / in_lake_s,
        "p50_ms": 1000 * _percentile(latencies, 0.50),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "requests": len(latencies),
    }


def _tenant_of(line: bytes) -> str:
    import orjson

    return orjson.loads(line)["tenant"]["tenant_id"]


def _wait_healthy(url: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy")


def bench_http(n_events: int, clients: int = 4) -> dict:
    """Print and return events/s of the HTTP loader beside the file loader on the same events."""
    lines = make_lines(n_events)
    mb = sum(map(len, lines)) / 1e6
    print(f"{len(lines):,} events ({mb:.0f} MB), NDJSON batches of {BATCH}, {clients} clients")
    with tempfile.TemporaryDirectory(prefix="bench-http-") as d:
        tmp = Path(d)
        file_res = bench_file_loader(lines, tmp)
        http_res = bench_server(lines, tmp, clients)
        otlp_res = bench_server(lines, tmp, clients, otlp_bodies(len(lines)), len(lines))
    ratio = http_res["accepted_per_s"] / file_res["events_per_s"]
    print(
        f"file loader (load_paths)     {file_res['events_per_s']:>10,.0f} events/s "
        f"({file_res['seconds']:.1f}s)"
    )
    print(
        f"HTTP accepted (202, fsynced) {http_res['accepted_per_s']:>10,.0f} events/s "
        f"({http_res['accepted_s']:.1f}s, {http_res['requests']} requests)  "
        f"= {ratio:.2f}x the file loader (target >= 0.5x)"
    )
    print(
        f"HTTP in the lake (Parquet)   {http_res['in_lake_per_s']:>10,.0f} events/s "
        f"({http_res['in_lake_s']:.1f}s from first request until the WAL was empty)"
    )
    print(
        f"request latency (batch of {BATCH})  p50 {http_res['p50_ms']:.0f} ms  "
        f"p99 {http_res['p99_ms']:.0f} ms"
    )
    print(
        f"OTLP spans accepted (200)    {otlp_res['accepted_per_s']:>10,.0f} spans/s "
        f"({otlp_res['accepted_s']:.1f}s, {otlp_res['requests']} protobuf exports of 512 chat "
        f"spans) = {otlp_res['accepted_per_s'] / http_res['accepted_per_s']:.2f}x /v1/events"
    )
    print(
        f"OTLP in the lake (Parquet)   {otlp_res['in_lake_per_s']:>10,.0f} spans/s "
        f"({otlp_res['in_lake_s']:.1f}s), export latency p50 {otlp_res['p50_ms']:.0f} ms  "
        f"p99 {otlp_res['p99_ms']:.0f} ms"
    )
    return {"file": file_res, "http": http_res, "otlp": otlp_res, "ratio": ratio}


if __name__ == "__main__":
    bench_http(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)

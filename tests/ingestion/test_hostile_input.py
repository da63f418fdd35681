"""Input we did not write: numbers and dates outside the contract, by file and by HTTP."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from fastapi.testclient import TestClient

from ingestion.files.loader import LoadError, load_paths
from ingestion.http.app import create_app
from ingestion.http.bodies import ServerSettings
from ingestion.validation.redaction import unescape_lossy
from tests.conftest import jsonl, make_event

HUGE = 2**70
NDJSON = {"Content-Type": "application/x-ndjson"}


def huge_latency(event_id: str) -> bytes:
    """A model call whose latency_ms overflows a double (1e400)."""
    mc = {**make_event()["model_call"], "latency_ms": 1.5}
    line = orjson.dumps(make_event(event_id=event_id, model_call=mc))
    return line.replace(b'"latency_ms":1.5', b'"latency_ms":1e400', 1)


def with_usage(event_id: str, **usage: Any) -> bytes:
    ev = make_event(event_id=event_id)
    text = orjson.dumps(ev).decode()
    for k, v in usage.items():
        old = f'"{k}":{ev["resource_usage"][k]}'
        assert old in text
        text = text.replace(old, f'"{k}":{v}', 1)
    return text.encode()


def quarantine(data_dir: Path) -> list[dict]:
    out = []
    for p in sorted((data_dir / "quarantine").glob("*.jsonl")):
        out += [orjson.loads(line) for line in p.read_bytes().splitlines()]
    return out


def lake_rows(data_dir: Path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    glob = str(data_dir / "lake" / "events" / "**" / "*.parquet")
    con.execute(f"CREATE VIEW lake AS SELECT * FROM read_parquet('{glob}', hive_partitioning=1)")
    return con.execute(sql).fetchall()


def test_numbers_beyond_64_bits_or_a_double_are_out_of_range_by_file(
    tmp_path: Path, data_dir: Path
) -> None:
    lines = [
        orjson.dumps(make_event(event_id="ok1")),
        with_usage("big", input_tokens=HUGE),
        with_usage("u64", output_tokens=2**64 - 1),
        orjson.dumps(make_event(event_id="ok2")),
        huge_latency("inf"),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(lines))
    s = load_paths([src], data_dir)
    assert (s.accepted, s.quarantined) == (2, 3)
    assert s.by_reason == {"out_of_range": 3}
    got = {(q["line_no"], q["reason_code"], q["errors"][0]["path"]) for q in quarantine(data_dir)}
    assert got == {
        (2, "out_of_range", "/resource_usage/input_tokens"),
        (3, "out_of_range", "/resource_usage/output_tokens"),
        (5, "out_of_range", "/model_call/latency_ms"),
    }
    (q,) = [q for q in quarantine(data_dir) if q["line_no"] == 2]
    assert q["errors"][0]["message"] == (
        "1180591620717411303424 is beyond the 64-bit integer range (at most "
        "9223372036854775807); send the real count"
    )
    assert lake_rows(data_dir, "SELECT event_id FROM lake ORDER BY 1") == [("ok1",), ("ok2",)]


def test_year_0001_has_its_own_reason_and_partitions_are_yyyy_mm_dd(
    tmp_path: Path, data_dir: Path
) -> None:
    from datetime import UTC, datetime

    from ingestion.validation.contract import ValidationConfig

    lines = [
        make_event(event_id="old", occurred_at="0001-01-01T00:00:00Z"),
        make_event(event_id="y1999", occurred_at="1999-12-31T23:59:59Z"),
        make_event(event_id="y2000", occurred_at="2000-01-01T00:00:00Z"),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(lines))
    s = load_paths([src], data_dir)
    assert (s.accepted, s.by_reason) == (1, {"occurred_too_early": 2})
    q = quarantine(data_dir)[0]
    assert q["errors"] == [
        {
            "path": "/occurred_at",
            "message": "occurred_at 0001-01-01T00:00:00Z is before 2000-01-01T00:00:00Z, the "
            "earliest the loader accepts; check the producer's clock",
        }
    ]
    # A deployment that allows older events still gets four-digit years in partition names.
    config = ValidationConfig(min_occurred_at=datetime(1, 1, 1, tzinfo=UTC))
    src2 = tmp_path / "old.jsonl"
    src2.write_bytes(jsonl([make_event(event_id="old2", occurred_at="0001-01-01T00:00:00Z")]))
    assert load_paths([src2], data_dir, config=config).accepted == 1
    names = sorted(p.parent.name for p in (data_dir / "lake" / "events").rglob("*.parquet"))
    assert names == ["event_date=0001-01-01", "event_date=2000-01-01"]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = ServerSettings(data_dir=tmp_path / "d", insecure_dev=True, flush_in_process=True)
    (tmp_path / "d").mkdir()
    with TestClient(create_app(settings)) as c:
        yield c


def test_numbers_beyond_64_bits_by_http_single_array_and_partial(client: TestClient) -> None:
    ok = orjson.dumps(make_event(event_id="h-ok"))
    big = with_usage("h-big", input_tokens=HUGE)
    json_headers = {"Content-Type": "application/json"}
    expected_error = {
        "index": 0,
        "line_no": 1,
        "event_id": "h-big",
        "reason_code": "out_of_range",
        "errors": [
            {
                "path": "/resource_usage/input_tokens",
                "message": "1180591620717411303424 is beyond the 64-bit integer range (at most "
                "9223372036854775807); send the real count",
            }
        ],
    }
    r = client.post("/v1/events", content=big, headers=json_headers)
    assert (r.status_code, r.json()["errors"]) == (400, [expected_error])
    r = client.post("/v1/events", content=b"[" + big + b"," + ok + b"]", headers=json_headers)
    assert (r.status_code, r.json()["errors"], r.json()["accepted"]) == (400, [expected_error], 0)
    r = client.post(
        "/v1/events?partial=true", content=b"[" + big + b"," + ok + b"]", headers=json_headers
    )
    assert (r.status_code, r.json()["errors"], r.json()["accepted"]) == (207, [expected_error], 1)
    r = client.post("/v1/events", content=b"[" + huge_latency("h-inf") + b"]", headers=json_headers)
    assert r.status_code == 400
    (err,) = r.json()["errors"]
    assert (err["reason_code"], err["errors"][0]["path"]) == (
        "out_of_range",
        "/model_call/latency_ms",
    )


# -- redaction of decoded strings --------------------------------------------------------------

KEY = "sk-proj-" + "Q7w8E9r0" * 3
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AKIA = "AKIAIOSFODNN7EXAMPLE"


def escaped(line: bytes) -> bytes:
    """The line with the first letter of each secret written as a JSON escape."""
    for secret in (KEY, AKIA, "jane.doe@example.com"):
        line = line.replace(secret.encode(), f"\\u{ord(secret[0]):04x}{secret[1:]}".encode())
    return line.replace(b"@example", b"\\u0040example")


def secret_events() -> list[bytes]:
    fail = make_event(
        event_id="r1",
        event_type="model_call.failed",
        error={"code": "auth", "message": f"key {KEY} refused"},
        attributes={
            "jwt": JWT,
            "cfg": f"aws_secret_access_key={AWS_SECRET}",
            "jane.doe@example.com": "user",
            "aws": AKIA,
            "password": "hunter2",
        },
    )
    policy = make_event(
        event_id="r2",
        event_type="policy.decision",
        model_call=...,
        resource_usage=...,
        policy={
            "policy_id": "p",
            "decision": "block",
            "reason": f"mail to jane.doe@example.com with {KEY}",
            "actor": {"actor_type": "user", "actor_id": "jane.doe@example.com"},
        },
    )
    bad = make_event(event_id="r3", bogus=True, attributes={"note": f"{KEY}"})
    unparseable = b'{"event_id":"r4","note":"' + KEY.encode() + b'"'
    return [escaped(orjson.dumps(e)) for e in (fail, policy, bad)] + [escaped(unparseable)]


def assert_no_secret_in(data_dir: Path) -> None:
    needles = [KEY, JWT, AWS_SECRET, AKIA, "hunter2", "jane.doe@example.com"]
    for p in data_dir.rglob("*"):
        if not p.is_file():
            continue
        data = p.read_bytes()
        if p.suffix == ".parquet":
            con = duckdb.connect()
            data = str(con.execute(f"SELECT * FROM read_parquet('{p}')").fetchall()).encode()
        else:  # as a reader decodes it: escapes resolved
            data = unescape_lossy(data.decode()).encode()
        for needle in needles[:-1]:
            assert needle.encode() not in data, (p, needle)
        if "quarantine" in p.parts:  # valid events keep the actor's e-mail (an id, as sent)
            assert needles[-1].encode() not in data, p


def test_escaped_secrets_are_redacted_decoded_by_file(tmp_path: Path, data_dir: Path) -> None:
    lines = secret_events()
    assert all(KEY.encode() not in line for line in lines)  # the raw bytes hide the key
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(lines))
    s = load_paths([src], data_dir, final=True)
    assert (s.accepted, s.quarantined) == (2, 2)
    assert_no_secret_in(data_dir)
    rows = lake_rows(
        data_dir,
        "SELECT error.message, policy.reason, policy.actor.actor_id, attributes "
        "FROM lake ORDER BY event_id",
    )
    assert rows == [
        (
            "key [REDACTED:api_key] refused",
            None,
            None,
            '{"[REDACTED:email]":"user","aws":"[REDACTED:aws_access_key]",'
            '"cfg":"[REDACTED:aws_secret_key]","jwt":"[REDACTED:jwt]",'
            '"password":"[REDACTED:secret_assignment]"}',
        ),
        (
            None,
            "mail to [REDACTED:email] with [REDACTED:api_key]",
            "jane.doe@example.com",
            None,
        ),
    ]
    raws = {q["line_no"]: q["raw"] for q in quarantine(data_dir)}
    assert orjson.loads(raws[3])["attributes"] == {"note": "[REDACTED:api_key]"}
    assert raws[4] == '{"event_id":"r4","note":"[REDACTED:api_key]"'


def test_escaped_secrets_are_redacted_by_http(client: TestClient, tmp_path: Path) -> None:
    lines = secret_events()
    r = client.post(
        "/v1/events?partial=true",
        content=b"\n".join(lines[:3]),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert (r.status_code, r.json()["accepted"], r.json()["rejected"]) == (207, 2, 1)
    r = client.post("/v1/events", content=lines[3], headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    for secret in (KEY, AKIA, "jane.doe@example.com"):
        assert secret not in r.text
    assert_no_secret_in(tmp_path / "d")


# -- a full disk, a killed load --------------------------------------------------------------

CLI = [sys.executable, "-m", "orchestration.cli"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root may mount one), else skip: the fake-disk test below still runs."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def mixed_lines(n: int) -> list[bytes]:
    """Valid events and, every other line, one rejected with a 300-byte unknown field."""
    out = []
    for i in range(n):
        ev = make_event(event_id=f"e{i}")
        if i % 2:
            ev["bogus"] = "x" * 300
        out.append(orjson.dumps(ev))
    return out


def visible_files(data_dir: Path) -> list[str]:
    """What a reader's globs see: lake Parquet files and quarantine files."""
    lake = [str(p) for p in (data_dir / "lake").rglob("*.parquet")]
    return lake + [str(p) for p in (data_dir / "quarantine").glob("*.jsonl")]


def test_disk_full_exits_2_and_leaves_nothing_visible(tmp_path: Path, small_disk: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(mixed_lines(3000)))  # 2 MB: the quarantine alone fills the disk
    data_dir = small_disk / "data"
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data_dir)}
    done = subprocess.run([*CLI, "load", str(src)], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"agentops-wh load: error: disk full while writing under {data_dir}; free space and "
        "run the load again (nothing of this load was kept)\n"
    )
    assert visible_files(data_dir) == []
    leftovers = [p.name for p in data_dir.rglob("*") if p.is_file() and p.name != ".lock"]
    assert leftovers == []


def test_disk_full_on_a_fake_disk_by_file_and_http(
    tmp_path: Path, data_dir: Path, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingestion.lake.store

    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(mixed_lines(10)))
    monkeypatch.setattr(ingestion.lake.store, "fsync_file", lambda path: full(0))
    with pytest.raises(LoadError, match="^disk full while writing under"):
        load_paths([src], data_dir)
    assert visible_files(data_dir) == []
    monkeypatch.setattr(os, "fsync", full)  # the quarantine's fsync, then the WAL's
    with pytest.raises(LoadError, match="^disk full while writing under"):
        load_paths([src], data_dir)
    assert visible_files(data_dir) == []
    body = b"\n".join(mixed_lines(4))
    r = client.post("/v1/events?partial=true", content=body, headers=NDJSON)
    assert (r.status_code, r.json()["reason_code"]) == (503, "disk_full")
    assert r.json()["message"] == (
        "the loader could not write its quarantine (No space left on device); nothing of "
        "this batch was stored; the operator must free space, then retry"
    )
    r = client.post("/v1/events", content=mixed_lines(1)[0], headers=NDJSON)
    assert (r.status_code, r.json()["reason_code"]) == (503, "wal_write_failed")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert visible_files(tmp_path / "d") == []


KILLER = """
import os, signal, sys
from pathlib import Path
import ingestion.lake.store as lake
from ingestion.files.loader import LoadError, load_paths

where = sys.argv[1]
if where == "after_write":
    real = lake.DayFiles.close
    def close(self, *a, **k):
        paths = real(self, *a, **k)
        os.kill(os.getpid(), signal.SIGKILL)
    lake.DayFiles.close = close
else:
    real_publish = lake.publish
    def publish(pending):
        if pending:
            real_publish(pending[:1])
            os.kill(os.getpid(), signal.SIGKILL)
    lake.publish = publish
load_paths([sys.argv[2]], Path(sys.argv[3]), chunk_bytes=4096)
"""


@pytest.mark.parametrize("where", ["after_write", "mid_publish"])
def test_a_killed_load_leaves_no_parquet_a_glob_reader_sees(
    tmp_path: Path, data_dir: Path, where: str
) -> None:
    first = tmp_path / "first.jsonl"
    first.write_bytes(jsonl([make_event(event_id=f"a{i}") for i in range(5)]))
    load_paths([first], data_dir)
    second = tmp_path / "second.jsonl"
    days = [f"2026-10-{d:02d}T12:00:00Z" for d in (1, 2, 3)]  # a file per day: 3 to publish
    second.write_bytes(
        jsonl([make_event(event_id=f"b{i}", occurred_at=days[i % 3]) for i in range(60)])
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", KILLER, where, str(second), str(data_dir)], env=env
    )
    assert done.returncode == -signal.SIGKILL
    glob = str(data_dir / "lake" / "**" / "*.parquet")
    con = duckdb.connect()
    ids = con.execute(f"SELECT count(*), min(event_id) FROM read_parquet('{glob}')").fetchone()
    if where == "after_write":  # not committed: the reader sees the first load only
        assert ids == (5, "a0")
    else:  # committed, killed mid-publish: some of its files are already visible, all whole
        assert ids[0] > 5
    assert list((data_dir / "lake").rglob("*.pending"))  # the killed load did write
    load_paths([first], data_dir)  # the next load recovers: rolls back or finishes
    assert list((data_dir / "lake").rglob("*.pending")) == []
    count = con.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()[0]
    assert count == (5 if where == "after_write" else 65)


# -- bounded memory and time on any file ----------------------------------------------------------

MIB = 1 << 20


def max_rss_mib_of(args: list[str], env: dict[str, str]) -> tuple[int, str, str, int]:
    """Run a command in a child of a fresh process: (exit code, stdout, stderr, max RSS MiB)."""
    wrapper = (
        "import resource, subprocess, sys, json\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024\n"
        "print(json.dumps([done.returncode, done.stdout, done.stderr, rss]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *args], env=env, capture_output=True, text=True
    )
    return tuple(orjson.loads(out.stdout))  # type: ignore[return-value]


def baseline_rss_mib(tmp_path: Path, env: dict[str, str]) -> int:
    """Max RSS of `agentops-wh load` on a one-event file: the interpreter and its libraries,
    which differ between machines; a bound above it measures what a load buffers."""
    small = tmp_path / "baseline" / "small.jsonl.gz"
    small.parent.mkdir(exist_ok=True)
    write_gzip_line(small, 0, orjson.dumps(make_event(event_id="baseline")) + b"\n")
    other = {**env, "AGENTOPS_DATA_DIR": str(tmp_path / "baseline" / "data")}
    code, _out, err, rss = max_rss_mib_of([*CLI, "load", "--json", str(small)], other)
    assert code == 0, err
    return rss


def write_gzip_line(path: Path, size: int, tail: bytes = b"") -> None:
    """A gzip file holding one line of `size` bytes (and `tail` after it), streamed."""
    import gzip

    with gzip.open(path, "wb", compresslevel=1) as fh:
        block = b"a" * MIB
        for _ in range(size // MIB):
            fh.write(block)
        fh.write(b"\n" + tail)


def test_gzip_bomb_of_one_line_is_quarantined_in_bounded_memory(
    tmp_path: Path, data_dir: Path
) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    write_gzip_line(bomb, 256 * MIB, orjson.dumps(make_event(event_id="after")) + b"\n")
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data_dir)}
    code, out, err, rss = max_rss_mib_of([*CLI, "load", "--json", str(bomb)], env)
    assert code == 0, err
    summary = orjson.loads(out)
    assert (summary["accepted"], summary["by_reason"]) == (1, {"event_too_large": 1})
    (q,) = quarantine(data_dir)
    assert (q["line_no"], q["raw"]) == (1, "a" * 1024)
    assert q["errors"][0]["message"] == (
        f"line is {256 * MIB} bytes; the limit is 262144 bytes (its first 1024 bytes are kept)"
    )
    base = baseline_rss_mib(tmp_path, env)
    assert rss < base + 64, f"max RSS {rss} MiB for a 256 MiB line ({base} MiB for one event)"


def test_endless_line_of_a_plain_file_and_a_refused_file(tmp_path: Path, data_dir: Path) -> None:
    endless = tmp_path / "endless.jsonl"
    with open(endless, "wb") as fh:
        fh.write(orjson.dumps(make_event(event_id="first")) + b"\n")
        for _ in range(64):
            fh.write(b"b" * MIB)  # no newline at the end: the file ends inside the line
    bomb = tmp_path / "bomb.jsonl.gz"
    write_gzip_line(bomb, 8 * MIB)
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data_dir)}
    args = [*CLI, "load", "--final", "--json", "--max-file-bytes", str(4 * MIB)]
    code, out, err, rss = max_rss_mib_of([*args, str(bomb), str(tmp_path / "ok.jsonl")], env)
    assert code == 2 and "ok.jsonl: no such file" in err  # a missing file still fails the load
    (tmp_path / "ok.jsonl").write_bytes(jsonl([make_event(event_id="ok")]))
    code, out, err, rss = max_rss_mib_of([*args, str(bomb), str(tmp_path / "ok.jsonl")], env)
    assert code == 3
    # the refusal is the one error line; the other lines are the structured log
    assert [line for line in err.splitlines() if not line.startswith("{")] == [
        f"agentops-wh load: error: {bomb}: refused, more than 4,194,304 bytes once "
        "decompressed (--max-file-bytes); split it into smaller files"
    ]
    assert orjson.loads(out)["accepted"] == 1
    code, out, err, rss = max_rss_mib_of([*CLI, "load", "--final", "--json", str(endless)], env)
    assert code == 0, err
    summary = orjson.loads(out)
    assert (summary["accepted"], summary["by_reason"]) == (1, {"event_too_large": 1})
    base = baseline_rss_mib(tmp_path, env)
    assert rss < base + 48, f"max RSS {rss} MiB for a 64 MiB line ({base} MiB for one event)"


def test_newline_flood_is_counted(tmp_path: Path, data_dir: Path) -> None:
    flood = tmp_path / "flood.jsonl"
    with open(flood, "wb") as fh:
        fh.write(b"\n" * (3 * MIB))
        fh.write(orjson.dumps(make_event(event_id="x1")) + b"\n")
        fh.write(b"\r\n" * MIB + b" \n")
        fh.write(b"{bad\n")
        fh.write(b"\n" * MIB)
    s = load_paths([flood], data_dir, chunk_bytes=MIB)
    assert (s.accepted, s.quarantined, s.blank_lines) == (1, 1, 5 * MIB + 1)
    (q,) = quarantine(data_dir)
    assert q["line_no"] == 4 * MIB + 3
    rows = lake_rows(data_dir, "SELECT event_id, source_line FROM lake")
    assert rows == [("x1", 3 * MIB + 1)]

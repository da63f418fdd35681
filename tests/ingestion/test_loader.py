"""The file loader against real files, a real Parquet lake and DuckDB."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.files.loader import LoadError, format_summary, load_paths
from tests.conftest import make_event

PROJECT = Path(__file__).resolve().parents[2]


def events(n: int, start: int = 0, day: int = 20) -> list[dict]:
    return [
        make_event(event_id=f"e{i}", occurred_at=f"2026-11-{day + i % 3:02d}T10:00:00Z")
        for i in range(start, start + n)
    ]


def write(path: Path, lines: list) -> Path:
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return path


def lake_rows(data_dir: Path, sql: str = "SELECT count(*) FROM lake") -> list[tuple]:
    glob = str(data_dir / "lake" / "events" / "**" / "*.parquet")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW lake AS SELECT * FROM read_parquet('{glob}', hive_partitioning=true)")
    return con.execute(sql).fetchall()


def quarantine(data_dir: Path) -> list[dict]:
    out = []
    for p in sorted((data_dir / "quarantine").glob("*.jsonl")):
        out += [orjson.loads(line) for line in p.read_bytes().splitlines()]
    return out


def test_load_valid_invalid_and_blank_lines(tmp_path: Path, data_dir: Path) -> None:
    bad = make_event(event_id="bad-1", extra_field=1)
    f = write(tmp_path / "batch.jsonl", [*events(5), b"", b"   ", bad, b"{not json"])
    s = load_paths([f], data_dir)
    assert (s.accepted, s.quarantined, s.blank_lines, s.duplicates) == (5, 2, 2, 0)
    assert s.by_reason == {"invalid_json": 1, "unknown_field": 1}
    assert lake_rows(data_dir) == [(5,)]
    # partitioned by event date, hive style, with the loader's columns
    rows = lake_rows(
        data_dir,
        "SELECT event_date::VARCHAR, count(*), min(source_line), any_value(load_id) = '"
        + s.load_id
        + "', bool_and(source_file = '"
        + str(f)
        + "') FROM lake GROUP BY 1 ORDER BY 1",
    )
    assert rows == [
        ("2026-11-20", 2, 1, True, True),
        ("2026-11-21", 2, 2, True, True),
        ("2026-11-22", 1, 3, True, True),
    ]
    q = quarantine(data_dir)
    assert [(r["line_no"], r["reason_code"]) for r in q] == [
        (8, "unknown_field"),
        (9, "invalid_json"),
    ]
    assert q[0]["errors"] == [
        {
            "path": "/extra_field",
            "message": "unknown field 'extra_field'; put extensions under /attributes",
        }
    ]
    assert q[0]["source"] == str(f) and q[0]["raw"] == orjson.dumps(bad).decode()
    assert q[0]["quarantined_at"].endswith("Z") and q[0]["event_id"] == "bad-1"


def test_lake_is_portable_parquet(tmp_path: Path, data_dir: Path) -> None:
    import pyarrow.parquet as pq

    load_paths([write(tmp_path / "a.jsonl", events(3))], data_dir)
    files = list((data_dir / "lake" / "events").rglob("*.parquet"))
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    schema = pq.read_schema(files[0])
    assert str(schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"
    assert "uuid" not in str(schema).lower()
    assert str(schema.field("budget").type.field("limit_usd").type) == "decimal128(38, 18)"


def test_invalid_utf8_is_kept_as_base64(tmp_path: Path, data_dir: Path) -> None:
    raw = orjson.dumps(make_event(event_id="u1")).replace(b"acme-prod", b"acme-\xff\xfe")
    s = load_paths([write(tmp_path / "a.jsonl", [raw])], data_dir)
    assert s.quarantined == 1 and s.by_reason == {"invalid_utf8": 1}
    import base64

    (rec,) = quarantine(data_dir)
    assert "raw" not in rec and base64.b64decode(rec["raw_b64"]) == raw


def test_reload_and_renamed_copy_change_nothing(tmp_path: Path, data_dir: Path) -> None:
    f = write(tmp_path / "a.jsonl", [*events(4), b"oops"])
    first = load_paths([f], data_dir)
    assert (first.accepted, first.quarantined) == (4, 1)
    lake_before = sorted(p.name for p in (data_dir / "lake").rglob("*.parquet"))
    again = load_paths([f], data_dir)
    copy = tmp_path / "sub" / "renamed.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(f.read_bytes())
    renamed = load_paths([tmp_path / "sub"], data_dir)
    for s in (again, renamed):
        assert (s.accepted, s.quarantined, s.files_skipped, s.files_loaded) == (0, 0, 1, 0)
    assert sorted(p.name for p in (data_dir / "lake").rglob("*.parquet")) == lake_before
    assert len(quarantine(data_dir)) == 1


def test_manifests_written_with_sha256_are_still_honoured(tmp_path: Path, data_dir: Path) -> None:
    """Lakes loaded before the manifest named its hash algorithm hold bare SHA-256 entries."""
    import hashlib

    f = write(tmp_path / "a.jsonl", events(3))
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_bytes(f.read_bytes())
    assert load_paths([f], data_dir).accepted == 3
    manifest = data_dir / "lake" / "_manifest.jsonl"
    (entry,) = [orjson.loads(line) for line in manifest.read_bytes().splitlines()]
    assert entry["hash"].startswith("xxh3_128:") and entry["bytes_loaded"] == f.stat().st_size
    legacy = {k: v for k, v in entry.items() if k not in ("hash", "prefix_hash")}
    legacy["sha256"] = legacy["prefix_sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
    manifest.write_bytes(orjson.dumps(legacy) + b"\n")
    s = load_paths([f, renamed], data_dir)
    assert (s.files_skipped, s.accepted) == (2, 0)
    # a grown file resumes after the bytes its legacy entry covers
    with open(f, "ab") as fh:
        fh.write(orjson.dumps(make_event(event_id="more")) + b"\n")
    s = load_paths([f], data_dir)
    assert (s.files_loaded, s.accepted, s.duplicates) == (1, 1, 0)
    assert lake_rows(data_dir, "SELECT count(*), max(source_line) FROM lake") == [(4, 4)]


def test_folder_recursion_and_gzip(tmp_path: Path, data_dir: Path) -> None:
    d = tmp_path / "in"
    (d / "deep").mkdir(parents=True)
    write(d / "a.jsonl", events(2))
    with gzip.open(d / "deep" / "b.jsonl.gz", "wb") as fh:
        fh.write(b"".join(orjson.dumps(e) + b"\n" for e in events(3, start=10)))
    (d / "notes.txt").write_text("ignored")
    s = load_paths([d], data_dir)
    assert (s.files_loaded, s.accepted) == (2, 5)


def test_incomplete_final_line_is_held_back_then_loaded(tmp_path: Path, data_dir: Path) -> None:
    f = tmp_path / "growing.jsonl"
    body = b"".join(orjson.dumps(e) + b"\n" for e in events(3))
    tail = orjson.dumps(make_event(event_id="tail"))
    f.write_bytes(body + tail[:40])
    s1 = load_paths([f], data_dir, grace_seconds=3600)
    assert (s1.accepted, s1.incomplete_lines, s1.quarantined) == (3, 1, 0)
    # the producer finishes the line and appends another: only the new lines load
    f.write_bytes(body + tail + b"\n" + orjson.dumps(make_event(event_id="next")) + b"\n")
    s2 = load_paths([f], data_dir, grace_seconds=3600)
    assert (s2.accepted, s2.incomplete_lines, s2.duplicates) == (2, 0, 0)
    assert lake_rows(data_dir, "SELECT event_id, source_line FROM lake ORDER BY source_line")[
        -2:
    ] == [
        ("tail", 4),
        ("next", 5),
    ]


def test_final_flag_judges_the_last_line(tmp_path: Path, data_dir: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_bytes(orjson.dumps(make_event(event_id="a")) + b"\n" + b'{"truncated": ')
    s = load_paths([f], data_dir, final=True)
    assert (s.accepted, s.quarantined, s.incomplete_lines) == (1, 1, 0)
    assert s.by_reason == {"invalid_json": 1}


def test_grace_period_makes_a_quiet_file_complete(tmp_path: Path, data_dir: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_bytes(orjson.dumps(make_event(event_id="a")))
    old = time.time() - 120
    os.utime(f, (old, old))
    s = load_paths([f], data_dir, grace_seconds=60)
    assert (s.accepted, s.incomplete_lines) == (1, 0)


@pytest.mark.parametrize(
    ("held_back", "start_method"), [(False, "fork"), (True, "fork"), (False, "forkserver")]
)
def test_worker_pool_loads_what_a_single_process_loads(
    tmp_path: Path, held_back: bool, start_method: str, data_dir: Path
) -> None:
    """Workers read their byte ranges of a plain file themselves; the lake must not notice.

    The loads run in fresh processes, as the CLI's do: forking a process that already used
    DuckDB (this one did) can hang the children on a lock copied while held.
    """
    long_event = make_event(event_id="long", attributes={"note": "x" * 3000})
    lines: list = [*events(40), b"", long_event, b"{not json", *events(40, start=100)]
    lines[7] = orjson.dumps(lines[7]) + b"\r"  # CRLF
    body = b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    tail = orjson.dumps(make_event(event_id="tail"))  # no newline: held back or judged
    cols = "event_id, source_line, event_hash, occurred_at, attributes"
    results = []
    for workers in (1, 2):
        f = tmp_path / f"w{workers}" / "batch.jsonl"
        f.parent.mkdir()
        f.write_bytes(body + tail)
        d = tmp_path / f"data{workers}"
        code = (
            "import sys, orjson; from ingestion.files.loader import load_paths; "
            f"s = load_paths([{str(f)!r}], {str(d)!r}, workers={workers}, chunk_bytes=2048, "
            f"final={not held_back}, grace_seconds=3600, start_method={start_method!r}); "
            "sys.stdout.buffer.write(orjson.dumps(s.as_dict()))"
        )
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=PROJECT)
        assert run.returncode == 0, run.stderr.decode()[-2000:]
        s = orjson.loads(run.stdout)
        results.append(
            (
                tuple(s[k] for k in ("accepted", "quarantined", "blank_lines", "incomplete_lines"))
                + (s["by_reason"],),
                lake_rows(d, f"SELECT {cols} FROM lake ORDER BY source_line"),
                [(q["line_no"], q["reason_code"]) for q in quarantine(d)],
            )
        )
    assert results[0] == results[1]
    counts, rows, rejected = results[1]
    assert counts == (81 + (not held_back), 1, 1, int(held_back), {"invalid_json": 1})
    assert [r[1] for r in rows] == [*range(1, 41), 42, *range(44, 84), *([84] * (not held_back))]
    assert rejected == [(43, "invalid_json")]


def test_workers_of_a_process_that_used_duckdb_do_not_hang(tmp_path: Path) -> None:
    """A worker forked from a process that used DuckDB hangs opening its own connection
    (measured: with `start_method="fork"` this test times out). Library callers get workers
    from a fork server instead, the default.

    It runs in a fresh process with a deadline, so a hang fails the test instead of stalling
    the suite.
    """
    first = write(tmp_path / "first.jsonl", events(5))
    f = write(tmp_path / "a.jsonl", events(300, start=100))
    data = str(tmp_path / "data")
    code = (
        "import orjson, sys; from ingestion.files.loader import load_paths; "
        f"load_paths([{str(first)!r}], {data!r}); "  # inline: opens this process's DuckDB
        f"s = load_paths([{str(f)!r}], {data!r}, workers=2, chunk_bytes=4096); "
        "sys.stdout.buffer.write(orjson.dumps([s.accepted, s.files_loaded]))"
    )
    try:
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, cwd=PROJECT, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the load with workers hung in a process that had used DuckDB")
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert orjson.loads(run.stdout) == [300, 1]


def test_a_file_rewritten_under_a_worker_is_refused(tmp_path: Path) -> None:
    from ingestion.files.chunks import ChunkJob

    f = write(tmp_path / "a.jsonl", events(3))
    n = len(f.read_bytes())
    job = ChunkJob("", "L", 1, "a", 1, None, None, 0, None, None, str(f), 0, n, 3)  # type: ignore[arg-type]
    assert job.read_lines()[0] == f.read_bytes()
    f.write_bytes(f.read_bytes()[:-5] + b"\n\n\n\n\n")
    with pytest.raises(LoadError, match="changed while it was being loaded"):
        job.read_lines()


def test_duplicates_within_and_across_loads(tmp_path: Path, data_dir: Path) -> None:
    e1, e2 = make_event(event_id="d1"), make_event(event_id="d2")
    changed = make_event(event_id="d2", occurred_at="2026-11-21T00:00:00Z")
    s1 = load_paths([write(tmp_path / "a.jsonl", [e1, e2, e1])], data_dir)
    assert (s1.accepted, s1.duplicates, s1.conflicting_duplicates) == (3, 1, 0)
    s2 = load_paths(
        [write(tmp_path / "b.jsonl", [e1, changed, make_event(event_id="d3")])], data_dir
    )
    assert (s2.accepted, s2.duplicates, s2.conflicting_duplicates) == (3, 2, 1)
    assert lake_rows(data_dir, "SELECT count(*), count(DISTINCT event_id) FROM lake") == [(6, 3)]


def test_duplicates_and_id_conflicts_are_counted_per_tenant(tmp_path: Path, data_dir: Path) -> None:
    """Ids are the tenant's: another tenant's event, call or run with the same ids is neither a
    duplicate nor a conflict; within a tenant, a reused model_call_id or a second
    run.completed is a conflict, and the same event re-sent in another byte form is a plain
    duplicate."""
    zeta = {"tenant_id": "zeta", "workspace_id": "acme-prod", "project_id": "support-bot"}

    def call(event_id: str, call_id: str, tenant: dict | None = None, tokens: int = 10) -> dict:
        ev = make_event(
            event_id=event_id,
            model_call={"model_call_id": call_id, "provider": "openai", "model": "gpt-4o"},
            resource_usage={"input_tokens": tokens, "output_tokens": 1},
        )
        if tenant:
            ev["tenant"] = tenant
        return ev

    def done(event_id: str, tenant: dict | None = None) -> dict:
        ev = make_event(
            event_id=event_id,
            event_type="run.completed",
            model_call=...,
            resource_usage={"input_tokens": 0, "output_tokens": 0},
        )
        if tenant:
            ev["tenant"] = tenant
        return ev

    first = [call("a1", "mc-1"), done("r1"), call("a1", "mc-1", zeta), done("r1", zeta)]
    s1 = load_paths([write(tmp_path / "a.jsonl", first)], data_dir)
    assert (s1.accepted, s1.duplicates, s1.conflicting_duplicates) == (4, 0, 0)
    assert (s1.conflicting_model_calls, s1.conflicting_run_completions) == (0, 0)

    # acme re-sends a1 as Python's json.dumps writes it (spaces, other key order): a duplicate
    resent = json.dumps(dict(reversed(list(call("a1", "mc-1").items())))).encode()
    later = [
        resent,
        call("a2", "mc-1", tokens=99),  # acme reuses its mc-1: a conflict
        done("r2"),  # a second run.completed of acme's run-1: a conflict
        call("z2", "mc-2", zeta),  # zeta's new call: nothing
        call("z3", "mc-2", zeta, tokens=5),  # ...then reused within zeta, in the same load
    ]
    s2 = load_paths([write(tmp_path / "b.jsonl", later)], data_dir)
    assert (s2.accepted, s2.duplicates, s2.conflicting_duplicates) == (5, 1, 0)
    assert (s2.conflicting_model_calls, s2.conflicting_run_completions) == (2, 1)
    assert "2 model call(s) reusing a model_call_id and 1 repeated run.completed" in (
        format_summary(s2)
    )


def test_secrets_and_emails_never_reach_the_data_dir(tmp_path: Path, data_dir: Path) -> None:
    secrets = [
        "alice@example.com",
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-1234567890-abcdefghij",
    ]
    good = make_event(
        event_id="s1",
        event_type="model_call.failed",
        error={"code": "auth", "message": f"key {secrets[1]} rejected for {secrets[0]}"},
        attributes={"user": secrets[0], "auth": secrets[2], "aws": secrets[3], "n": 1},
    )
    policy = make_event(
        event_id="s2",
        event_type="policy.decision",
        model_call=...,
        resource_usage=...,
        policy={
            "policy_id": "p",
            "decision": "redact",
            "reason": f"slack token {secrets[4]} in output",
            "actor": {"actor_type": "user", "actor_id": "u1"},
        },
    )
    bad = make_event(event_id="s3", bogus=secrets[1], attributes={"who": secrets[0]})
    bad_bytes = orjson.dumps(make_event(event_id="s4", attributes={"who": secrets[0]}))
    bad_bytes = bad_bytes.replace(b'"s4"', b'"s4\xff"')
    s = load_paths([write(tmp_path / "in.jsonl", [good, policy, bad, bad_bytes])], data_dir)
    assert (s.accepted, s.quarantined) == (2, 2)
    for p in data_dir.rglob("*"):
        if p.is_file():
            blob = p.read_bytes()
            for secret in secrets:
                assert secret.encode() not in blob, (p, secret)
    (msg,) = lake_rows(data_dir, "SELECT error.message FROM lake WHERE event_id = 's1'")[0]
    assert msg == "key [REDACTED:api_key] rejected for [REDACTED:email]"


def test_custom_redaction_pattern(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestion.validation.redaction import Redactor

    monkeypatch.setenv("AGENTOPS_REDACT_PATTERNS", '{"employee_id": "EMP-[0-9]{6}"}')
    ev = make_event(event_id="c1", attributes={"who": "EMP-123456", "mail": "a@b.io"})
    load_paths([write(tmp_path / "a.jsonl", [ev])], data_dir, redactor=Redactor.from_env())
    assert lake_rows(data_dir, "SELECT attributes FROM lake") == [
        ('{"mail":"[REDACTED:email]","who":"[REDACTED:employee_id]"}',)
    ]


def test_errors_exit_non_zero_and_leave_nothing(tmp_path: Path, data_dir: Path) -> None:
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data_dir)}
    cli = [sys.executable, "-m", "orchestration.cli", "load"]
    missing = subprocess.run(
        [*cli, str(tmp_path / "nope.jsonl")], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 2
    assert "nope.jsonl: no such file or folder" in missing.stderr
    good = write(tmp_path / "good.jsonl", events(3))
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(good.read_bytes())[:-12])
    with pytest.raises(LoadError, match="broken.jsonl.gz: unreadable"):
        load_paths([good, broken], data_dir)
    assert list((data_dir / "lake" / "events").rglob("*.parquet")) == []
    assert list((data_dir / "quarantine").glob("*")) == []
    # the good file was not recorded as loaded: it loads once the broken one is gone
    assert load_paths([good], data_dir).accepted == 3


def test_cli_json_summary(tmp_path: Path, data_dir: Path) -> None:
    f = write(tmp_path / "a.jsonl", [*events(2), b"x"])
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "load", "--json", str(f)],
        capture_output=True,
        env=env,
        check=True,
    )
    summary = orjson.loads(out.stdout)
    assert {k: summary[k] for k in ("accepted", "quarantined", "duplicates")} == {
        "accepted": 2,
        "quarantined": 1,
        "duplicates": 0,
    }


def test_sigkill_mid_load_then_rerun_loads_everything_once(tmp_path: Path, data_dir: Path) -> None:
    n = 60_000
    f = tmp_path / "big.jsonl"
    with open(f, "wb") as fh:
        for i in range(n):
            fh.write(
                orjson.dumps(
                    make_event(event_id=f"k{i}", occurred_at=f"2026-11-{10 + i % 10}T10:00:00Z")
                )
                + b"\n"
            )
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT)}
    code = (
        "from ingestion.files.loader import load_paths; import sys; "
        f"load_paths([{str(f)!r}], workers=1, chunk_bytes=1 << 20)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    events_dir = data_dir / "lake" / "events"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(events_dir.rglob("*.parquet.pending"))) < 8:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list(events_dir.rglob("*.parquet.pending"))) >= 8, "the kill must land mid-load"
    assert not list(events_dir.rglob("*.parquet")), "nothing uncommitted is visible"
    assert not list((data_dir / "lake" / "_loads").glob("*.json")), (
        "the load must not have committed"
    )
    s = load_paths([f], data_dir)
    assert s.accepted == n and s.duplicates == 0
    assert lake_rows(data_dir, "SELECT count(*), count(DISTINCT event_id) FROM lake") == [(n, n)]
    assert not [p for p in data_dir.rglob(".tmp-*")]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_spanning_many_days_is_written_one_file_per_writer_and_day(
    tmp_path: Path, workers: int
) -> None:
    # Days interleaved line by line (as a merge of several producers' files writes them):
    # every chunk holds all 20 days. Files are per (load, writer, day), not per chunk and day.
    days = [f"2026-10-{d:02d}" for d in range(1, 21)]
    events = [
        make_event(event_id=f"e{i}", occurred_at=f"{days[i % 20]}T12:00:00Z") for i in range(2000)
    ]
    src = tmp_path / "span.jsonl"
    src.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    data_dir = tmp_path / "data"
    summary = load_paths([src], data_dir, final=True, workers=workers, chunk_bytes=32 << 10)
    assert summary.accepted == 2000
    files = sorted((data_dir / "lake" / "events").rglob("*.parquet"))
    assert summary.lake_files == len(files) == 20 * workers  # ~45 chunks, each over 20 days
    per_day = {d: [f for f in files if f.parent.name == f"event_date={d}"] for d in days}
    assert {d: len(fs) for d, fs in per_day.items()} == {d: workers for d in days}
    writers = sorted({f.name.removeprefix(summary.load_id + "-") for f in files})
    # The loader's own process writes as w0; workers are w1, w2, ...
    names = ["w0"] if workers == 1 else [f"w{n}" for n in range(1, workers + 1)]
    assert writers == [f"{name}.parquet" for name in names]
    rows = duckdb.connect().execute(
        "SELECT event_date, count(*), count(DISTINCT event_id) FROM read_parquet(?, "
        "hive_partitioning = true) GROUP BY 1 ORDER BY 1",
        [[str(f) for f in files]],
    )
    assert [(str(d), n, k) for d, n, k in rows.fetchall()] == [(d, 100, 100) for d in days]

"""The durable alert outbox: SQLite (WAL mode) under `$AGENTOPS_DATA_DIR/outbox/`.

An alert is inserted (INSERT OR IGNORE on its unique dedupe key) before anything is sent, so
a key is alerted at most once however many ticks see it. Sending follows a claim protocol:

    pending --claim--> sending --2xx--> sent
                         |----transient (5xx, timeout, 429)--> pending (retried later)
                         |----4xx other than 429, undeliverable--> failed (never retried)
    suppressed: recorded and shown, never sent (a crossing seen after its period closed)

A claim reserves the alert for one run for `lease` seconds and counts an attempt. If the
process dies between the send and the mark (the only window), the claim expires and a later
run sends that alert again: delivery is at least once, duplicates only in that window.

After every pass `export_snapshot` writes `outbox/alerts/outbox.parquet` atomically, in the
columns of dbt's `outbox.alerts` source, so fct_alerts and the dashboard show delivery state.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.fsync import fsync_and_rename
from orchestration.alerts.rules import Alert

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
SUPPRESSED = "suppressed"

_ALERTS_TABLE = """
CREATE TABLE IF NOT EXISTS alerts (
    dedupe_key      TEXT PRIMARY KEY,
    alert_id        TEXT NOT NULL,
    alert_type      TEXT NOT NULL,
    destination     TEXT NOT NULL,
    payload         BLOB NOT NULL,     -- Alert.to_json(): what the message and events say
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,     -- epoch seconds, UTC
    updated_at      REAL NOT NULL,
    next_attempt_at REAL,              -- not before (back-off, Retry-After)
    claim_id        TEXT,
    claimed_until   REAL,
    last_attempt_at REAL,
    sent_at         REAL,
    error_message   TEXT,
    events_written  INTEGER NOT NULL DEFAULT 0,
    route_note      TEXT               -- e.g. the destination had no route: fallback used
);
"""
_SCHEMA = (
    _ALERTS_TABLE
    + """
CREATE INDEX IF NOT EXISTS alerts_by_status ON alerts (status);
-- Storm control across processes: the next instant a message may go to a webhook.
CREATE TABLE IF NOT EXISTS webhook_slots (
    webhook      TEXT PRIMARY KEY,
    next_slot_at REAL NOT NULL
);
"""
)
# Columns of the first layout (no `suppressed` status, no route_note): copied on upgrade.
_V1_COLUMNS = (
    "dedupe_key, alert_id, alert_type, destination, payload, status, attempts, created_at,"
    " updated_at, next_attempt_at, claim_id, claimed_until, last_attempt_at, sent_at,"
    " error_message, events_written"
)


def _upgrade(con: sqlite3.Connection) -> None:
    """Bring an outbox of the first layout to this one (SQLite cannot alter a CHECK)."""
    row = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alerts'")
    sql = (row.fetchone() or [""])[0] or ""
    if "'suppressed'" in sql:
        return
    con.execute("ALTER TABLE alerts RENAME TO alerts_v1")
    con.execute("DROP INDEX IF EXISTS alerts_by_status")
    con.execute(_ALERTS_TABLE)
    con.execute(f"INSERT INTO alerts ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM alerts_v1")
    con.execute("DROP TABLE alerts_v1")
    con.execute("CREATE INDEX IF NOT EXISTS alerts_by_status ON alerts (status)")


SNAPSHOT_SCHEMA = pa.schema(
    [
        pa.field("dedupe_key", pa.string(), nullable=False),
        pa.field("alert_id", pa.string(), nullable=False),
        pa.field("alert_type", pa.string()),
        pa.field("destination", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("attempts", pa.int32(), nullable=False),
        pa.field("last_attempt_at", pa.timestamp("us", tz="UTC")),
        pa.field("sent_at", pa.timestamp("us", tz="UTC")),
        pa.field("error_message", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("route_note", pa.string()),
        # Whose alert it is, for the dashboard (dbt takes these from the alert's events).
        pa.field("tenant_id", pa.string()),
        pa.field("budget_id", pa.string()),
        pa.field("period_start", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class OutboxRow:
    """One alert in the outbox and its delivery state."""

    alert: Alert
    status: str
    attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float | None
    claim_id: str | None
    claimed_until: float | None
    last_attempt_at: float | None
    sent_at: float | None
    error_message: str | None
    events_written: bool
    route_note: str | None = None

    @property
    def dedupe_key(self) -> str:
        return self.alert.dedupe_key


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


class Outbox:
    """The outbox database; each method is one short transaction (safe across processes)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction. A read never creates the outbox: sensors read it while they are
        evaluated, and only runs write it; one not created yet reads as empty."""
        if not write and not self.path.exists():
            con = sqlite3.connect(":memory:")
            con.executescript(_SCHEMA)
            con.row_factory = sqlite3.Row
            try:
                yield con
            finally:
                con.close()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.row_factory = sqlite3.Row
            if write:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=FULL")  # a mark must survive a power cut
                con.executescript(_SCHEMA)
                # IMMEDIATE: take the write lock up front, so read-then-update is atomic.
                con.execute("BEGIN IMMEDIATE")
                try:
                    _upgrade(con)
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            else:
                yield con
        finally:
            con.close()

    # --- recording ------------------------------------------------------------------------

    def enqueue(self, alerts: Iterable[Alert], now: float) -> list[str]:
        """Record alerts not seen before; returns the keys that were new. An alert with a
        `suppressed` reason is recorded as such and never sent."""
        new: list[str] = []
        with self._connect(write=True) as con:
            for a in alerts:
                status = SUPPRESSED if a.suppressed else PENDING
                cur = con.execute(
                    "INSERT OR IGNORE INTO alerts (dedupe_key, alert_id, alert_type, destination,"
                    " payload, status, error_message, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        a.dedupe_key, a.alert_id, a.alert_type, a.destination, a.to_json(),
                        status, a.suppressed, now, now,
                    ),
                )  # fmt: skip
                if cur.rowcount:
                    new.append(a.dedupe_key)
        return new

    def known_keys(self, keys: Iterable[str] | None = None) -> set[str]:
        """Which of `keys` (all, when None) the outbox already holds."""
        with self._connect() as con:
            if keys is None:
                return {r[0] for r in con.execute("SELECT dedupe_key FROM alerts")}
            wanted = list(dict.fromkeys(keys))
            found: set[str] = set()
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT dedupe_key FROM alerts WHERE dedupe_key IN ({marks})"
                found.update(r[0] for r in con.execute(sql, chunk))
            return found

    # --- reading --------------------------------------------------------------------------

    @staticmethod
    def _row(r: sqlite3.Row) -> OutboxRow:
        return OutboxRow(
            alert=Alert.from_json(r["payload"]),
            status=r["status"],
            attempts=r["attempts"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            next_attempt_at=r["next_attempt_at"],
            claim_id=r["claim_id"],
            claimed_until=r["claimed_until"],
            last_attempt_at=r["last_attempt_at"],
            sent_at=r["sent_at"],
            error_message=r["error_message"],
            events_written=bool(r["events_written"]),
            route_note=r["route_note"] if "route_note" in r.keys() else None,  # noqa: SIM118 - a Row's `in` tests values
        )

    def rows(self, status: str | None = None) -> list[OutboxRow]:
        with self._connect() as con:
            if status is None:
                cur = con.execute("SELECT * FROM alerts ORDER BY created_at, dedupe_key")
            else:
                cur = con.execute(
                    "SELECT * FROM alerts WHERE status = ? ORDER BY created_at, dedupe_key",
                    (status,),
                )
            return [self._row(r) for r in cur]

    def get(self, dedupe_key: str) -> OutboxRow | None:
        with self._connect() as con:
            r = con.execute("SELECT * FROM alerts WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
            return None if r is None else self._row(r)

    _DUE = (
        "(status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= :now))"
        " OR (status = 'sending' AND claimed_until <= :now)"
    )

    def due(self, now: float) -> list[OutboxRow]:
        """Alerts a delivery pass may attempt now: pending and not backing off, or claimed
        by a run whose lease ran out (it died between claim and mark)."""
        with self._connect() as con:
            sql = f"SELECT * FROM alerts WHERE {self._DUE} ORDER BY created_at, dedupe_key"
            return [self._row(r) for r in con.execute(sql, {"now": now})]

    # --- the claim protocol ---------------------------------------------------------------

    def claim(
        self, keys: Sequence[str], claim_id: str, now: float, lease: float
    ) -> list[OutboxRow]:
        """Reserve the due ones among `keys` for `claim_id`; returns what was claimed.

        Counting the attempt at claim time means an attempt that dies mid-send still counts.
        """
        if not keys:
            return []
        with self._connect(write=True) as con:
            for key in keys:
                con.execute(
                    f"UPDATE alerts SET status = 'sending', claim_id = :claim,"
                    f" claimed_until = :until, attempts = attempts + 1, last_attempt_at = :now,"
                    f" updated_at = :now WHERE dedupe_key = :key AND ({self._DUE})",
                    {"claim": claim_id, "until": now + lease, "now": now, "key": key},
                )
            marks = ",".join("?" * len(keys))
            cur = con.execute(
                f"SELECT * FROM alerts WHERE claim_id = ? AND status = 'sending'"
                f" AND dedupe_key IN ({marks}) ORDER BY dedupe_key",
                (claim_id, *keys),
            )
            return [self._row(r) for r in cur]

    def _finish(
        self,
        keys: Sequence[str],
        claim_id: str,
        now: float,
        *,
        status: str,
        error: str | None,
        next_attempt_at: float | None = None,
    ) -> int:
        with self._connect(write=True) as con:
            n = 0
            for key in keys:
                cur = con.execute(
                    "UPDATE alerts SET status = ?, error_message = ?, next_attempt_at = ?,"
                    " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,"
                    " claim_id = NULL, claimed_until = NULL, updated_at = ?"
                    " WHERE dedupe_key = ? AND claim_id = ? AND status = 'sending'",
                    (status, error, next_attempt_at, status, now, now, key, claim_id),
                )
                n += cur.rowcount
            return n

    def mark_sent(self, keys: Sequence[str], claim_id: str, now: float) -> int:
        """The webhook answered 2xx: delivered."""
        return self._finish(keys, claim_id, now, status=SENT, error=None)

    def mark_retry(
        self, keys: Sequence[str], claim_id: str, now: float, error: str, not_before: float
    ) -> int:
        """A transient failure: back to pending, not attempted again before `not_before`."""
        return self._finish(
            keys, claim_id, now, status=PENDING, error=error, next_attempt_at=not_before
        )

    def mark_failed(self, keys: Sequence[str], claim_id: str, now: float, error: str) -> int:
        """A permanent failure (a 4xx other than 429): never retried."""
        return self._finish(keys, claim_id, now, status=FAILED, error=error)

    def record_undeliverable(
        self, keys: Sequence[str], now: float, error: str, *, permanent: bool
    ) -> int:
        """Alerts no sender can take: `failed` when no sender ever will (e.g. an email
        destination), else left pending with the reason (e.g. no webhook URL configured),
        without counting an attempt."""
        with self._connect(write=True) as con:
            n = 0
            for key in keys:
                # Only a change is written, so that `recorded_at` keeps meaning "changed at".
                cur = con.execute(
                    "UPDATE alerts SET status = ?, error_message = ?, updated_at = ?"
                    " WHERE dedupe_key = ? AND status = 'pending'"
                    " AND (? OR error_message IS NOT ?)",
                    (FAILED if permanent else PENDING, error, now, key, permanent, error),
                )
                n += cur.rowcount
            return n

    def note_route(self, keys: Sequence[str], note: str | None) -> None:
        """Where the alerts went when their destination had no route of its own."""
        with self._connect(write=True) as con:
            for key in keys:
                con.execute(
                    "UPDATE alerts SET route_note = ? WHERE dedupe_key = ? AND route_note IS NOT ?",
                    (note, key, note),
                )

    def reserve_slot(self, webhook: str, now: float, interval: float) -> float:
        """The instant this process may send its next message to `webhook`: at least
        `interval` seconds after the previous reservation, in any process."""
        with self._connect(write=True) as con:
            r = con.execute(
                "SELECT next_slot_at FROM webhook_slots WHERE webhook = ?", (webhook,)
            ).fetchone()
            slot = max(now, r[0] if r else now)
            con.execute(
                "INSERT INTO webhook_slots (webhook, next_slot_at) VALUES (?, ?)"
                " ON CONFLICT (webhook) DO UPDATE SET next_slot_at = excluded.next_slot_at",
                (webhook, slot + interval),
            )
            return slot

    # --- events and snapshot --------------------------------------------------------------

    def sent_without_events(self) -> list[OutboxRow]:
        with self._connect() as con:
            cur = con.execute(
                "SELECT * FROM alerts WHERE status = 'sent' AND events_written = 0"
                " ORDER BY sent_at, dedupe_key"
            )
            return [self._row(r) for r in cur]

    def mark_events_written(self, keys: Iterable[str]) -> None:
        with self._connect(write=True) as con:
            for key in keys:
                con.execute("UPDATE alerts SET events_written = 1 WHERE dedupe_key = ?", (key,))

    def snapshot_table(self) -> pa.Table:
        """Every alert's current state in the columns of dbt's `outbox.alerts` source.

        'sending' shows as 'pending': to a reader the alert is not delivered yet.
        """
        rows = self.rows()
        cols: dict[str, list] = {f.name: [] for f in SNAPSHOT_SCHEMA}
        for r in rows:
            cols["dedupe_key"].append(r.dedupe_key)
            cols["alert_id"].append(r.alert.alert_id)
            cols["alert_type"].append(r.alert.alert_type)
            cols["destination"].append(r.alert.destination)
            cols["status"].append(PENDING if r.status == SENDING else r.status)
            cols["attempts"].append(r.attempts)
            cols["last_attempt_at"].append(_ts(r.last_attempt_at))
            cols["sent_at"].append(_ts(r.sent_at))
            cols["error_message"].append(r.error_message)
            cols["created_at"].append(_ts(r.created_at))
            cols["recorded_at"].append(_ts(r.updated_at))
            cols["route_note"].append(r.route_note)
            facts = r.alert.facts
            tenant = facts.get("tenant_id") or (facts.get("tenant") or [None])[0]
            cols["tenant_id"].append(tenant)
            cols["budget_id"].append(facts.get("budget_id"))
            start = facts.get("period_start")
            cols["period_start"].append(
                datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None
            )
        return pa.table(cols, schema=SNAPSHOT_SCHEMA)

    def export_snapshot(self, dest: Path) -> int:
        """Publish the snapshot Parquet atomically, so dbt's glob and the dashboard never read
        half a file. Returns the row count.

        Passes may run at once (two alert runs, a retry and a new publish): each writes a temp
        file of its own (not matching *.parquet) and renames it into place, and a lock beside
        the snapshot makes read-write-rename one step, so an older read never replaces a newer
        snapshot."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest.parent / f".{dest.name}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            table = self.snapshot_table()
            fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            tmp = Path(name)
            try:
                pq.write_table(table, tmp, compression="zstd")
                fsync_and_rename(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        return table.num_rows


def now_epoch() -> float:
    return time.time()

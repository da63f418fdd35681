"""The quarantine: every rejected line, with its reasons, as the producer can fix it.

A load appends its rejects to `quarantine/.tmp-<load_id>.jsonl`, renamed to
`quarantine/<load_id>.jsonl` when the load commits; the HTTP loader writes its own files
(`write_quarantine`). Each record keeps the line as sent with its secrets redacted (`raw`, or
`raw_b64` for bytes that are not UTF-8), where it came from, and the reason code and errors.
"""

from __future__ import annotations

import base64
import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ingestion.fsync import fsync_dir
from ingestion.lake.store import Lake, new_load_id
from ingestion.settings import data_dir as default_data_dir
from ingestion.validation.contract import EVENT_TOO_LARGE, Rejection
from ingestion.validation.redaction import DEFAULT_REDACTOR, Redactor, unescape_lossy

KEPT_BYTES = 1024  # the first bytes of a line too large to load, kept in the quarantine


class Quarantine:
    """Appends rejected lines to a temporary file that becomes visible at commit."""

    def __init__(self, lake: Lake, load_id: str, redactor: Redactor):
        self.final = lake.quarantine_dir / f"{load_id}.jsonl"
        self.tmp = lake.quarantine_dir / f".tmp-{load_id}.jsonl"
        self.redactor = redactor
        self.fh: BinaryIO | None = None
        self.count = 0

    def add(self, source: str, line_no: int, raw: bytes, rej: Rejection, at: str) -> None:
        if self.fh is None:
            self.fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()
        if rej.reason_code == EVENT_TOO_LARGE:
            raw = raw[:KEPT_BYTES]  # what the producer needs to find the line, not all of it
        rec: dict[str, Any] = {
            "source": source,
            "line_no": line_no,
            "reason_code": rej.reason_code,
            "errors": [e.as_dict() for e in rej.errors],
            "event_id": rej.event_id,
            "quarantined_at": at,
        }
        try:
            rec["raw"] = redacted_raw(raw.decode("utf-8"), self.redactor)
        except UnicodeDecodeError:
            rec["raw_b64"] = base64.b64encode(self.redactor.redact_bytes(raw)).decode()
        line = self.redactor.redact_text(orjson.dumps(rec).decode())
        self.fh.write(line.encode() + b"\n")
        self.count += 1

    def close(self) -> str | None:
        if self.fh is None:
            return None
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.final)
        return str(self.final)


def redacted_raw(text: str, redactor: Redactor) -> str:
    """A rejected line as quarantine keeps it: the line as sent, its secrets redacted.

    A line that parses is redacted decoded (every string, keys included, escapes resolved)
    and kept as sent when nothing changed; one that does not parse is redacted as text with
    its `\\uXXXX` escapes decoded first.
    """
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        decoded = unescape_lossy(text)
        redacted = redactor.redact_text(decoded)
        return text if redacted == decoded else redacted
    redacted_doc = redactor.redact_document(doc)
    return text if redacted_doc == doc else orjson.dumps(redacted_doc).decode()


def write_quarantine(
    rejected: list[tuple[int, bytes, Rejection]],
    source: str,
    data_dir: Path | None = None,
    *,
    redactor: Redactor | None = None,
    now: datetime | None = None,
) -> str | None:
    """Quarantine lines rejected outside `load_paths` (the HTTP loader, source `http`).

    `rejected` holds (line_no, raw, rejection) as a load's quarantine does, in the same record
    format, written to a file of its own, `<source>-<time>_<random>.jsonl`. It is written
    under a temporary name that `Lake.recover` leaves alone, then renamed, so it needs no lake
    lock (a running load never waits for it, nor it for a load). Returns the file's path.
    """
    if not rejected:
        return None
    lake = Lake(data_dir or default_data_dir())
    lake.quarantine_dir.mkdir(parents=True, exist_ok=True)
    at_dt = now or datetime.now(UTC)
    # Not starting with "L": recover() deletes L<load_id> files whose load never committed.
    name = f"{source}-{new_load_id(at_dt)[1:]}"
    q = Quarantine(lake, name, redactor or DEFAULT_REDACTOR)
    q.tmp = lake.quarantine_dir / f".{name}.partial"
    at = at_dt.isoformat().replace("+00:00", "Z")
    try:
        for line_no, raw, rej in rejected:
            q.add(source, line_no, raw, rej, at)
        path = q.close()
    except OSError:  # a full disk: leave no partial file behind
        if q.fh is not None:
            with contextlib.suppress(OSError):
                q.fh.close()
        q.tmp.unlink(missing_ok=True)
        raise
    fsync_dir(lake.quarantine_dir)
    return path

"""Structured logs for every process of the product: JSON lines (or text), one format.

`AGENTOPS_LOG_FORMAT` is `json` (the default: one JSON object per line) or `text`;
`AGENTOPS_LOG_LEVEL` is a level name (default INFO). Every line has `ts` (UTC, ISO 8601),
`level`, `logger` and `message`, plus the ids the caller knows, passed as `extra`:
`trace_id`, `run_id`, `load_id`, `tenant_id`, `event_ids`, `wal_segment`, ... so that one
event can be followed from its request (`agentops.server`: accepted, with its WAL segment),
into the lake (`agentops.wal`: flushed, the segment's event ids and the load id) and into a
published warehouse (`agentops.build`: the load ids a build read) by grepping its id, then
its load id. Every line passes through the redactor, as the lake's contents do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from ingestion.validation.redaction import Redactor

FORMAT_ENV = "AGENTOPS_LOG_FORMAT"
LEVEL_ENV = "AGENTOPS_LOG_LEVEL"
FORMATS = ("json", "text")
# Log record attributes that are the record's own, not ids a caller passed in `extra`.
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's
}
# Ids listed in one line at most: a flush of a large segment names the first ones.
MAX_IDS = 1000


def log_format(env: Mapping[str, str] | None = None) -> str:
    raw = (os.environ if env is None else env).get(FORMAT_ENV, "").strip().lower() or "json"
    if raw not in FORMATS:
        raise ValueError(f"{FORMAT_ENV}={raw!r}: write json or text")
    return raw


def log_level(env: Mapping[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get(LEVEL_ENV, "").strip().upper() or "INFO"
    level = logging.getLevelName(raw)
    if not isinstance(level, int):
        raise ValueError(f"{LEVEL_ENV}={raw!r}: write DEBUG, INFO, WARNING or ERROR")
    return level


def ids(values: list[str]) -> dict[str, Any]:
    """`extra` for a list of event ids: at most MAX_IDS, and whether some were left out."""
    out: dict[str, Any] = {"event_ids": values[:MAX_IDS]}
    if len(values) > MAX_IDS:
        out["event_ids_truncated"] = len(values) - MAX_IDS
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class TextFormatter(logging.Formatter):
    """`ts level logger: message key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        extra = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _RESERVED and not k.startswith("_")
        )
        line = f"{ts} {record.levelname} {record.name}: {record.getMessage()}"
        line = f"{line} {extra}" if extra else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class RedactingHandler(logging.StreamHandler):
    """Writes each formatted line through the redactor (secrets never reach a log)."""

    redactor: Redactor | None = None

    def format(self, record: logging.LogRecord) -> str:
        if RedactingHandler.redactor is None:
            RedactingHandler.redactor = Redactor.from_env()
        return RedactingHandler.redactor.redact_text(super().format(record))


def formatter(env: Mapping[str, str] | None = None) -> logging.Formatter:
    return JsonFormatter() if log_format(env) == "json" else TextFormatter()


def configure(env: Mapping[str, str] | None = None) -> None:
    """Send the `agentops.*` loggers to stderr in the configured format and level (once)."""
    logger = logging.getLogger("agentops")
    logger.setLevel(log_level(env))
    if not any(isinstance(h, RedactingHandler) for h in logger.handlers):
        handler = RedactingHandler()
        handler.setFormatter(formatter(env))
        logger.addHandler(handler)
    logger.propagate = False

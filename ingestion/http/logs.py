"""The server's logging: JSON lines (or text) as `ingestion.logs` configures every process,
uvicorn's access log included, every line through the redactor."""

from __future__ import annotations

from typing import Any

from ingestion.logs import RedactingHandler, log_format, log_level

# The name this handler had before every process shared one: kept for configurations that
# name it.
RedactingStreamHandler = RedactingHandler


def log_config(access_log: bool = True) -> dict[str, Any]:
    handler = "ingestion.logs.RedactingHandler"
    kind = (
        "ingestion.logs.JsonFormatter" if log_format() == "json" else "ingestion.logs.TextFormatter"
    )
    level = log_level()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": kind}},
        "handlers": {
            "default": {"class": handler, "formatter": "default", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {
                "handlers": ["default"],
                "level": level if access_log else "WARNING",
                "propagate": False,
            },
            "agentops": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }

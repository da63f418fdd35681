"""The server's logging: every line, access log included, passes through the redactor."""

from __future__ import annotations

import logging
from typing import Any

from ingestion.validation.redaction import Redactor


class RedactingStreamHandler(logging.StreamHandler):
    """A stream handler whose every line (access log included) is redacted before writing."""

    redactor = Redactor.from_env()

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.redact_text(super().format(record))


def log_config(access_log: bool = True) -> dict[str, Any]:
    handler = "ingestion.http.logs.RedactingStreamHandler"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(asctime)s %(levelprefix)s %(name)s: %(message)s",
                "use_colors": False,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(asctime)s %(levelprefix)s %(client_addr)s "%(request_line)s" '
                "%(status_code)s",
                "use_colors": False,
            },
        },
        "handlers": {
            "default": {"class": handler, "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {"class": handler, "formatter": "access", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["access"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
            "agentops": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }

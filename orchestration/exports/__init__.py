"""`agentops-wh export`: the ledger for other tools (FOCUS) and per-tenant statements."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time; write e.g. 2026-11-01 or 2026-11-01T12:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cmd_focus(args: argparse.Namespace) -> int:
    from ingestion.settings import data_dir, warehouse_path
    from orchestration.exports.focus import ExportError, export_focus

    try:
        result = export_focus(warehouse_path(data_dir()), Path(args.out), args.since, args.until)
    except ExportError as exc:
        print(f"agentops-wh export focus: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


def _cmd_statement(args: argparse.Namespace) -> int:
    from ingestion.settings import data_dir, warehouse_path
    from orchestration.exports.focus import ExportError
    from orchestration.exports.statement import export_statement

    out = Path(args.out or f"statement-{args.tenant}-{args.month}.csv")
    try:
        result = export_statement(warehouse_path(data_dir()), args.tenant, args.month, out)
    except ExportError as exc:
        print(f"agentops-wh export statement: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="the ledger as FOCUS rows, or a tenant's monthly statement")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    focus = kinds.add_parser(
        "focus",
        help="FOCUS 1.2 cost and usage rows of the ledger",
        description="Write the ledger as FOCUS 1.2 rows (one per hour of use and dimensions, "
        "per month of booking); unpriced calls are left out and listed in "
        "<out>.unpriced.json.",
    )
    focus.add_argument("--out", required=True, metavar="FILE", help="FILE.parquet or FILE.csv")
    focus.add_argument("--since", type=_instant, help="first instant of use (UTC), inclusive")
    focus.add_argument("--until", type=_instant, help="last instant of use (UTC), exclusive")
    focus.set_defaults(func=_cmd_focus)
    statement = kinds.add_parser(
        "statement",
        help="a tenant's chargeback statement for a month (CSV)",
        description="One line per project, provider and model of the tenant's calls in the "
        "UTC month, and a TOTAL line equal to the ledger.",
    )
    statement.add_argument("--tenant", required=True, metavar="T")
    statement.add_argument("--month", required=True, metavar="YYYY-MM")
    statement.add_argument("--out", metavar="FILE", help="default statement-T-YYYY-MM.csv")
    statement.set_defaults(func=_cmd_statement)

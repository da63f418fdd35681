"""`agentops-wh`: the product's one command. Each subcommand lives in its own module.

Modules register their subcommand with `register(subparsers)` and are imported lazily, so
`agentops-wh load` never pays for importing dbt or Streamlit.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ingestion import logs

# subcommand -> module exposing `register(subparsers)`; the module sets `func` on its parser.
COMMANDS = {
    "load": "ingestion.files.loader",
    "generate": "ingestion.synthetic.generator",
    "serve": "ingestion.http.server",
    "token": "ingestion.http.tokens",
    "pricebook": "ingestion.reference.pricebook",
    "reconcile": "ingestion.reference.statements",
    "build": "orchestration.warehouse.build",
    "export": "orchestration.exports",
    "dashboard": "orchestration.dashboard",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentops-wh", description="AgentOps Warehouse: what AI agents do and what they cost."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"see `agentops-wh {name} --help`")
            continue
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            sub.add_parser(name, help="(not available in this build)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.error(f"`{args.command}` is not available in this build")
    try:
        logs.configure()  # AGENTOPS_LOG_FORMAT, AGENTOPS_LOG_LEVEL: stderr, as JSON lines
    except ValueError as exc:
        parser.error(str(exc))
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

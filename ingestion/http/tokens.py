"""Bearer tokens for the HTTP loader: `agentops-wh token create|list|revoke`.

A token belongs to one tenant; the loader takes the tenant from the token, never from the
event. Only a token's SHA-256 is stored (`$AGENTOPS_DATA_DIR/tokens.json`, mode 0600,
rewritten atomically under a lock); the token itself is printed once, at creation. Tokens
look like `aow_<43 url-safe characters>` (256 random bits), a shape the redactor masks
wherever it appears. Verification hashes what the caller sent and compares it with every
stored hash in constant time (`hmac.compare_digest`), so timing reveals nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import hmac
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ingestion.settings import data_dir

TOKEN_PREFIX = "aow_"
TOKENS_FILE = "tokens.json"


class TokenError(Exception):
    """A token command that cannot be done (unknown id, empty tenant, unreadable file)."""


@dataclass(frozen=True)
class TokenRecord:
    """What is stored about a token: never the token itself."""

    token_id: str
    tenant_id: str
    sha256: str
    created_at: str
    revoked_at: str | None = None
    description: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """The record without its hash, for listings."""
        out = asdict(self)
        del out["sha256"]
        out["status"] = "active" if self.active else "revoked"
        return out


def tokens_path(base: Path | None = None) -> Path:
    return (base or data_dir()) / TOKENS_FILE


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_tokens(path: Path) -> list[TokenRecord]:
    """Every stored record; an absent file means no tokens."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        doc = orjson.loads(raw)
        return [TokenRecord(**rec) for rec in doc["tokens"]]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise TokenError(
            f"{path} is not a token file ({exc}); restore it or move it away and create tokens "
            "again"
        ) from exc


def _write_tokens(path: Path, records: list[TokenRecord]) -> None:
    body = orjson.dumps(
        {"version": 1, "tokens": [asdict(r) for r in records]}, option=orjson.OPT_INDENT_2
    )
    tmp = path.parent / f".{path.name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the token file between processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def create_token(
    tenant_id: str, base: Path | None = None, description: str | None = None
) -> tuple[str, TokenRecord]:
    """Create a token for a tenant; returns (the token, shown only now; its stored record)."""
    tenant_id = tenant_id.strip()
    if not tenant_id:
        raise TokenError("--tenant must be a non-empty tenant_id, as events carry it")
    path = tokens_path(base)
    token = new_token()
    record = TokenRecord(
        token_id="tok_" + secrets.token_hex(6),
        tenant_id=tenant_id,
        sha256=hash_token(token),
        created_at=_now(),
        description=description,
    )
    with _locked(path):
        _write_tokens(path, [*read_tokens(path), record])
    return token, record


def revoke_token(token_id: str, base: Path | None = None) -> TokenRecord:
    """Revoke a token by id; the loader refuses it from its next request on."""
    path = tokens_path(base)
    with _locked(path):
        records = read_tokens(path)
        for i, rec in enumerate(records):
            if rec.token_id == token_id:
                if rec.active:
                    records[i] = rec = TokenRecord(**{**asdict(rec), "revoked_at": _now()})
                    _write_tokens(path, records)
                return rec
    raise TokenError(f"no token with id {token_id!r}; `agentops-wh token list` shows the ids")


class TokenStore:
    """The token file as the loader sees it: re-read whenever it changes on disk."""

    def __init__(self, path: Path):
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._records: list[TokenRecord] = []

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            signature = (0, 0, 0)
        if signature != self._signature:
            self._records = read_tokens(self.path)
            self._signature = signature

    def active_count(self) -> int:
        self._refresh()
        return sum(r.active for r in self._records)

    def authenticate(self, token: str | None) -> TokenRecord | None:
        """The active record matching `token`, or None. Compares every hash in constant time."""
        if not token:
            return None
        self._refresh()
        digest = hash_token(token)
        found: TokenRecord | None = None
        for rec in self._records:  # no early exit: the time taken does not depend on a match
            if hmac.compare_digest(digest, rec.sha256) and rec.active:
                found = rec
        return found


def _cmd_create(args: argparse.Namespace) -> int:
    token, rec = create_token(args.tenant, description=args.description)
    if args.json:
        print(orjson.dumps({**rec.public(), "token": token}).decode())
    else:
        print(f"token for tenant {rec.tenant_id} (id {rec.token_id}); shown once, store it now:")
        print(token)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    records = [r.public() for r in read_tokens(tokens_path())]
    if args.json:
        print(orjson.dumps(records).decode())
        return 0
    if not records:
        print("no tokens; create one with `agentops-wh token create --tenant T`")
        return 0
    print(f"{'id':<18} {'tenant':<20} {'status':<8} {'created_at':<21} description")
    for r in records:
        print(
            f"{r['token_id']:<18} {r['tenant_id']:<20} {r['status']:<8} {r['created_at']:<21} "
            f"{r['description'] or ''}"
        )
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    rec = revoke_token(args.token_id)
    print(f"revoked {rec.token_id} (tenant {rec.tenant_id}) at {rec.revoked_at}")
    return 0


def _run(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except TokenError as exc:
            print(f"agentops-wh token: error: {exc}", file=sys.stderr)
            return 2

    return run


def register(sub: Any) -> None:
    p = sub.add_parser(
        "token",
        help="create, list and revoke the HTTP loader's bearer tokens",
        description="Bearer tokens for `agentops-wh serve`, one tenant each. Only SHA-256 hashes "
        "are kept, in $AGENTOPS_DATA_DIR/tokens.json.",
    )
    actions = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    c = actions.add_parser("create", help="create a token for a tenant and print it once")
    c.add_argument("--tenant", required=True, help="the tenant_id the token may post for")
    c.add_argument("--description", help="a note shown by `token list` (who uses it)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=_run(_cmd_create))
    ls = actions.add_parser("list", help="list tokens (ids, tenants, status; never the tokens)")
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ls.set_defaults(func=_run(_cmd_list))
    r = actions.add_parser("revoke", help="revoke a token by id; effective on the next request")
    r.add_argument("token_id", metavar="ID", help="the token's id, as `token list` shows it")
    r.set_defaults(func=_run(_cmd_revoke))

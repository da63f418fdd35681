"""Who may see which tenants: the access file named by `$AGENTOPS_ACCESS_FILE` (YAML).

The dashboard reads it once signed-in access is configured; `agentops-wh dashboard` checks it
before starting, so a bad file is refused with its line and what to write. A viewer is
matched by the identity's e-mail (`email`, exact or `*@domain`) or by a group in a group claim
(`groups` unless `groups_claim` says otherwise); the rules that match add up. A viewer no rule
matches sees nothing but a "no access" page.

    groups_claim: groups        # the identity claim that lists the viewer's groups
    session_max_age: 12h        # sign in again after this long (m, h or d; default 12h)
    rules:
      - email: ana@acme.example
        tenants: [acme]
      - email: "*@platform.example"
        tenants: "*"            # every tenant
      - group: finance
        tenants: "*"
        pages: [overview, cost, budgets]   # default: every page

It lives here, beside the ingest tokens, because it is shared: the dashboard (app/) applies it
and the CLI (orchestration/) checks it at start.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ACCESS_FILE_ENV = "AGENTOPS_ACCESS_FILE"
# Set by `agentops-wh dashboard --insecure-allow-remote` for the app it starts.
INSECURE_REMOTE_ENV = "AGENTOPS_INSECURE_ALLOW_REMOTE"
ALL = "*"
# The dashboard's pages by URL path; `pages:` names a subset.
PAGES = ("overview", "failures", "traces", "cost", "budgets", "governance", "data-health")
DEFAULT_SESSION_MAX_AGE = timedelta(hours=12)
DEFAULT_GROUPS_CLAIM = "groups"

_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_EXAMPLE = "for example `rules: [{email: ana@acme.example, tenants: [acme]}]`"


class AccessFileError(ValueError):
    """The access file is missing or wrong; the message names the line and what to write."""


@dataclass(frozen=True)
class Rule:
    """One row of the access file: who (an e-mail or a group) sees which tenants and pages."""

    line: int
    email: str | None = None
    group: str | None = None
    tenants: frozenset[str] | None = None  # None: every tenant
    pages: frozenset[str] | None = None  # None: every page

    def matches(self, email: str | None, groups: frozenset[str]) -> bool:
        if self.group is not None:
            return self.group in groups
        if not email or self.email is None:
            return False
        if self.email.startswith("*@"):
            return email.endswith(self.email[1:])
        return email == self.email


@dataclass(frozen=True)
class Grant:
    """What one viewer may see: tenants (None: all of them) and pages (None: all of them)."""

    tenants: frozenset[str] | None
    pages: frozenset[str] | None = None

    @property
    def sees_nothing(self) -> bool:
        return self.tenants is not None and not self.tenants

    def may_open(self, page: str) -> bool:
        return self.pages is None or page in self.pages


EVERYTHING = Grant(tenants=None, pages=None)


@dataclass(frozen=True)
class AccessPolicy:
    """The parsed access file."""

    source: str
    rules: tuple[Rule, ...]
    groups_claim: str = DEFAULT_GROUPS_CLAIM
    session_max_age: timedelta = DEFAULT_SESSION_MAX_AGE

    def grant(self, claims: Mapping[str, Any]) -> Grant | None:
        """What the identity with these claims may see; None when no rule names it.

        An e-mail counts only when the provider did not say it is unverified.
        """
        email = claims.get("email")
        if not isinstance(email, str) or claims.get("email_verified") is False:
            email = None
        email = email.strip().lower() if email else None
        raw = claims.get(self.groups_claim) or []
        groups = frozenset([raw] if isinstance(raw, str) else [str(g) for g in raw])
        matched = [r for r in self.rules if r.matches(email, groups)]
        if not matched:
            return None
        tenants: frozenset[str] | None = frozenset()
        pages: frozenset[str] | None = frozenset()
        for rule in matched:
            tenants = None if tenants is None or rule.tenants is None else tenants | rule.tenants
            pages = None if pages is None or rule.pages is None else pages | rule.pages
        return Grant(tenants=tenants, pages=pages)


def _where(source: str, node: yaml.Node) -> str:
    return f"{source}, line {node.start_mark.line + 1}"


def _scalar(source: str, node: yaml.Node, what: str, how: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise AccessFileError(f"{_where(source, node)}: {what} must be a non-empty text; {how}")
    return str(node.value).strip()


def _mapping(source: str, node: yaml.Node, what: str, keys: set[str]) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise AccessFileError(f"{_where(source, node)}: {what} must be a mapping; {_EXAMPLE}")
    out: dict[str, yaml.Node] = {}
    for key_node, value in node.value:
        key = _scalar(source, key_node, "a key", f"keys are {', '.join(sorted(keys))}")
        if key not in keys:
            raise AccessFileError(
                f"{_where(source, key_node)}: unknown key `{key}` in {what}; "
                f"write one of {', '.join(sorted(keys))}"
            )
        if key in out:
            raise AccessFileError(f"{_where(source, key_node)}: `{key}` is given twice in {what}")
        out[key] = value
    return out


def _names(source: str, node: yaml.Node, what: str, allowed: tuple[str, ...] | None) -> set[str]:
    """A list of names (or one name) under `what`."""
    how = f"write a list such as `{what}: [{allowed[0] if allowed else 'acme'}]`"
    if allowed is None:
        how += ' or `"*"` for every tenant'
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if not items:
        raise AccessFileError(f"{_where(source, node)}: `{what}` is empty; {how}")
    out = set()
    for item in items:
        name = _scalar(source, item, f"each of `{what}`", how)
        if allowed is not None and name not in allowed:
            raise AccessFileError(
                f"{_where(source, item)}: `{name}` is not a page; pages are {', '.join(allowed)}"
            )
        out.add(name)
    return out


def _rule(source: str, node: yaml.Node) -> Rule:
    fields = _mapping(source, node, "a rule", {"email", "group", "tenants", "pages"})
    line = node.start_mark.line + 1
    who = [k for k in ("email", "group") if k in fields]
    if len(who) != 1:
        raise AccessFileError(
            f"{source}, line {line}: a rule names exactly one of `email` or `group` "
            f"(it has {' and '.join(who) or 'neither'}); {_EXAMPLE}"
        )
    if "tenants" not in fields:
        raise AccessFileError(
            f"{source}, line {line}: the rule has no `tenants`; write `tenants: [acme]` or "
            '`tenants: "*"` for every tenant'
        )
    email = group = None
    if "email" in fields:
        email = _scalar(source, fields["email"], "`email`", "write `email: ana@acme.example`")
        email = email.lower()
        if "@" not in email or (email.startswith("*") and not email.startswith("*@")):
            raise AccessFileError(
                f"{_where(source, fields['email'])}: `{email}` is not an e-mail address; "
                'write `email: ana@acme.example` or `email: "*@acme.example"`'
            )
    else:
        group = _scalar(source, fields["group"], "`group`", "write `group: finance`")
    tenants = _names(source, fields["tenants"], "tenants", None)
    pages = _names(source, fields["pages"], "pages", PAGES) if "pages" in fields else None
    return Rule(
        line=line,
        email=email,
        group=group,
        tenants=None if ALL in tenants else frozenset(tenants),
        pages=None if pages is None else frozenset(pages),
    )


def parse(text: str, source: str = "the access file") -> AccessPolicy:
    """The access policy in `text`; AccessFileError naming the line of the first mistake."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise AccessFileError(
            f"{source}{line}: not valid YAML ({exc.problem}); {_EXAMPLE}"
        ) from exc
    except yaml.YAMLError as exc:
        raise AccessFileError(f"{source}: not valid YAML ({exc}); {_EXAMPLE}") from exc
    if root is None:
        raise AccessFileError(f"{source} is empty; {_EXAMPLE}")
    top = _mapping(source, root, "the file", {"rules", "groups_claim", "session_max_age"})
    if "rules" not in top:
        raise AccessFileError(f"{source}: there is no `rules:` list; {_EXAMPLE}")
    rules_node = top["rules"]
    if not isinstance(rules_node, yaml.SequenceNode) or not rules_node.value:
        raise AccessFileError(
            f"{_where(source, rules_node)}: `rules` must be a non-empty list; {_EXAMPLE}"
        )
    rules = tuple(_rule(source, item) for item in rules_node.value)
    groups_claim = DEFAULT_GROUPS_CLAIM
    if "groups_claim" in top:
        groups_claim = _scalar(
            source, top["groups_claim"], "`groups_claim`", "write `groups_claim: groups`"
        )
    max_age = DEFAULT_SESSION_MAX_AGE
    if "session_max_age" in top:
        node = top["session_max_age"]
        m = _DURATION.match(str(node.value)) if isinstance(node, yaml.ScalarNode) else None
        if m is None or int(m.group(1)) == 0:
            raise AccessFileError(
                f"{_where(source, node)}: `session_max_age` must be a positive duration in "
                "minutes, hours or days; write for example `session_max_age: 12h`"
            )
        max_age = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    return AccessPolicy(
        source=source, rules=rules, groups_claim=groups_claim, session_max_age=max_age
    )


def load(path: str | Path) -> AccessPolicy:
    """The access file at `path`, parsed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AccessFileError(
            f"the access file {path} (${ACCESS_FILE_ENV}) does not exist; create it, {_EXAMPLE}"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessFileError(f"the access file {path} could not be read: {exc}") from exc
    return parse(text, str(path))


def is_loopback(address: str | None) -> bool:
    """Whether a bind address is this machine only (what needs no sign-in)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False  # a host name other than localhost, or nothing (every address)


def access_file() -> Path | None:
    """The file `$AGENTOPS_ACCESS_FILE` names, or None when it is unset."""
    value = os.environ.get(ACCESS_FILE_ENV, "").strip()
    return Path(value) if value else None

"""The access file: who sees which tenants and pages; a bad file names its line and the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingestion.access import AccessFileError, Grant, is_loopback, load, parse

GOOD = """\
groups_claim: roles
session_max_age: 90m
rules:
  - email: Ana@Acme.example
    tenants: [acme]
  - email: "*@platform.example"
    tenants: "*"
  - group: finance
    tenants: [globex, initech]
    pages: [cost, budgets]
  - group: acme-ops
    tenants: acme
    pages: [traces]
"""


def test_rules_add_up_per_viewer() -> None:
    policy = parse(GOOD, "access.yaml")
    assert policy.groups_claim == "roles"
    assert policy.session_max_age == timedelta(minutes=90)
    assert policy.grant({"email": "ana@acme.example"}) == Grant(frozenset({"acme"}), None)
    assert policy.grant({"email": "bo@platform.example"}) == Grant(None, None)
    assert policy.grant({"email": "x@elsewhere.example", "roles": ["finance", "acme-ops"]}) == (
        Grant(frozenset({"acme", "globex", "initech"}), frozenset({"cost", "budgets", "traces"}))
    )
    # One rule without `pages` opens every page; a single group given as text counts.
    assert policy.grant({"email": "ana@acme.example", "roles": "finance"}) == Grant(
        frozenset({"acme", "globex", "initech"}), None
    )
    assert policy.grant({"email": "nobody@acme.example"}) is None
    # An e-mail the provider says is unverified names nobody; the domain must match whole.
    assert policy.grant({"email": "ana@acme.example", "email_verified": False}) is None
    assert policy.grant({"email": "eve@evilplatform.example"}) is None
    assert policy.grant({"roles": ["finance"]}).may_open("cost")
    assert not policy.grant({"roles": ["finance"]}).may_open("overview")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [\n  {email: a@b.c, tenants: [acme]\n", "line 3: not valid YAML"),
        ("rules:\n  - email: a@b.c\n", "line 2: the rule has no `tenants`; write `tenants:"),
        (
            "rules:\n  - email: a@b.c\n    group: ops\n    tenants: [x]\n",
            "line 2: a rule names exactly one of `email` or `group` (it has email and group)",
        ),
        (
            "rules:\n  - group: ops\n    tenants: [x]\n    pages: [overview, costs]\n",
            "line 4: `costs` is not a page; pages are overview, failures, traces, cost",
        ),
        ("rules:\n  - email: ana\n    tenants: [x]\n", "line 2: `ana` is not an e-mail address"),
        (
            "rules:\n  - group: ops\n    tenant: [x]\n",
            "line 3: unknown key `tenant` in a rule; write one of email, group, pages, tenants",
        ),
        ("rules: []\n", "line 1: `rules` must be a non-empty list"),
        ("session_max_age: soon\nrules: [{group: a, tenants: [x]}]\n", "line 1: `session_max"),
        ("rules:\n  - group: ops\n    tenants: []\n", "line 3: `tenants` is empty"),
        ("", "is empty"),
    ],
)
def test_a_bad_file_names_its_line_and_what_to_write(text: str, expected: str) -> None:
    with pytest.raises(AccessFileError) as err:
        parse(text, "access.yaml")
    assert expected in str(err.value), str(err.value)
    assert str(err.value).startswith("access.yaml")


def test_a_missing_file_says_how_to_create_it(tmp_path) -> None:
    with pytest.raises(AccessFileError, match="does not exist; create it"):
        load(tmp_path / "nope.yaml")


def test_only_this_machine_counts_as_local() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.0.1.1", "localhost", "::1"]))
    assert not any(map(is_loopback, ["0.0.0.0", "", None, "10.0.0.5", "::", "127.example.com"]))

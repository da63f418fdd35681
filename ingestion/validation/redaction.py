"""Redaction of secrets and e-mail addresses before anything is written anywhere.

The same `Redactor` runs over valid events (lake, WAL), rejected lines (quarantine), HTTP error
bodies and log text. It matches *decoded* strings: `"s\\u006b-proj-..."` is the key
`sk-proj-...` once parsed, and is redacted as such. In a valid event it covers the free text
(`error.message`, `policy.reason`, and `attributes` keys and values); ids are identity, not
free text, and stay as sent. Patterns are configurable: `AGENTOPS_REDACT_PATTERNS` may hold a
JSON object of extra `{"name": "regex"}` entries, or a path to a file with one.

The default patterns follow the rules of gitleaks (`config/gitleaks.toml`: JWT, AWS, GitHub,
Slack, private keys, generic `secret=` assignments), written for Python's `re` and anchored so
that long runs of text stay linear-time. (detect-secrets, the maintained Python set, scans a
line per plugin and reports findings without positions in the decoded string; it does not fit
a substitution on the loader's hot path.)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Container
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow._compute as pc  # the kernels without `pyarrow.compute`'s wrappers (~0.1 s)

DEFAULT_PATTERNS: dict[str, str] = {
    # The lookbehind anchors a match at the start of a run, keeping long runs linear-time.
    "email": (
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
    ),
    "bearer_token": r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
    "api_key": r"\bsk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{16,}",
    "aws_access_key": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "github_token": r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
    "slack_token": r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    "google_api_key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "agentops_token": r"\baow_[A-Za-z0-9_-]{20,}",
    "jwt": r"\bey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
    "private_key": (
        r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[^-]|-(?!----END))*(?:-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?"
    ),
    "aws_secret_key": (
        r"(?i)\baws_?(?:secret_?(?:access_?)?key|secret)[\"']?\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{40}"
    ),
    "secret_assignment": (
        r"(?i)(?<![A-Za-z0-9])[A-Za-z0-9_-]{0,40}?(?:api[_-]?key|secret|password|passwd)"
        r"[A-Za-z0-9_-]{0,40}[\"']?\s*[=:]\s*[\"']?[^\s\"',;]{6,}"
    ),
}

# Attribute keys that say their value is a secret, whatever the value looks like.
SECRET_KEY_NAMES = re.compile(r"(?i)(?:api[_-]?key|secret|password|passwd|private[_-]?key)")


# Literals at least one of which every match of a default pattern contains.
TRIGGERS: dict[str, tuple[bytes, ...]] = {
    "email": (b"@",),
    "bearer_token": (b"bearer",),
    "api_key": (b"sk-",),
    "aws_access_key": (b"AKIA", b"ASIA"),
    "github_token": (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"),
    "slack_token": (b"xox",),
    "google_api_key": (b"AIza",),
    "agentops_token": (b"aow_",),
    "jwt": (b".ey",),
    "private_key": (b"PRIVATE KEY",),
    "aws_secret_key": (b"aws",),
    "secret_assignment": (b"key", b"secret", b"passw"),
}
CASE_INSENSITIVE = {"bearer_token", "aws_secret_key", "secret_assignment"}
# A JSON escape can spell any character of a trigger (`s\u006b-` is `sk-`): a line holding one
# is always scanned decoded. Other escapes (`\/`, `\"`, `\\`) spell no trigger character.
ESCAPE = b"\\u"


def marker(name: str) -> str:
    return f"[REDACTED:{name}]"


@dataclass(frozen=True)
class Redactor:
    """Replaces every match of its patterns by `[REDACTED:<name>]`."""

    patterns: tuple[tuple[str, str], ...]

    @classmethod
    def from_env(cls) -> Redactor:
        return _redactor_from_env(os.environ.get("AGENTOPS_REDACT_PATTERNS", ""))

    @cached_property
    def _compiled(self) -> tuple[re.Pattern[str], re.Pattern[bytes], dict[str, str]]:
        return _compile(self.patterns)

    @cached_property
    def _plan(self) -> tuple[tuple[bytes, ...], tuple[bytes, ...]] | None:
        return _trigger_plan(self.patterns)

    def redact_text(self, text: str) -> str:
        combined, _, _ = self._compiled
        triggers = self._str_triggers
        if triggers is not None:
            plain, folded = triggers
            if not any(t in text for t in plain):
                lowered = text.lower()
                if not any(t in lowered for t in folded):
                    return text
        if not combined.search(text):
            return text
        return combined.sub(lambda m: marker(m.lastgroup or "secret"), text)

    @cached_property
    def _str_triggers(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        plan = self._plan
        if plan is None:
            return None
        return tuple(t.decode() for t in plan[0] if t != ESCAPE), tuple(t.decode() for t in plan[1])

    def redact_bytes(self, raw: bytes) -> bytes:
        _, combined, _ = self._compiled
        if not combined.search(raw):
            return raw
        return combined.sub(lambda m: marker(m.lastgroup or "secret").encode(), raw)

    def may_contain(self, raw: bytes) -> bool:
        """Fast test on the raw line: False means nothing in it needs redacting.

        Regex search over every line is the loader's most expensive step, so patterns with a
        known literal trigger (an e-mail needs '@') run only when the trigger is present.
        """
        checks = self._plan
        if checks is None:
            return self._compiled[1].search(raw) is not None
        plain, folded = checks
        for t in plain:
            if t in raw:
                return self._compiled[1].search(raw) is not None
        if folded:
            lowered = raw.lower()
            for t in folded:
                if t in lowered:
                    return self._compiled[1].search(raw) is not None
        return False

    def candidates(self, lines: list[bytes], decoded: bool = False) -> list[bool]:
        """`may_contain` for a whole chunk of lines at once, vectorised.

        One RE2 pass (Arrow's C++ kernel) over the chunk for the trigger literals costs about
        a microsecond a line; CPython's substring search per line and trigger costs tens.
        `decoded` lines are events as orjson writes them: their `\\u` escapes are decoded
        (orjson escapes only `"`, `\\` and control characters, which no trigger holds), so
        the escape itself is no longer a trigger.
        """
        plan = self._plan
        if plan is None:
            return [self._compiled[1].search(raw) is not None for raw in lines]
        if decoded:
            plan = (tuple(t for t in plan[0] if t != ESCAPE), plan[1])
        mask = _matches(pa.array(lines, type=pa.binary()), _trigger_regex(plan))
        return mask.to_pylist()

    def candidate_lines(self, blob: bytes, lines: list[bytes]) -> Container[int]:
        """Indices of the lines of `blob` (split into `lines`) that `may_contain` secrets.

        One RE2 scan of the whole blob first: a chunk with no trigger at all, the common
        case, costs a fraction of a microsecond a line.
        """
        plan = self._plan
        if plan is not None:
            whole = pa.array([blob], type=pa.large_binary())
            if not _matches(whole, _trigger_regex(plan))[0].as_py():
                return frozenset()
        return {i for i, maybe in enumerate(self.candidates(lines)) if maybe}

    def redact_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with its free text redacted; the same object when nothing changed.

        Free text is `error.message`, `policy.reason` and `attributes` (keys and values); an
        attribute whose key names a secret (`password`, `api_key`, ...) loses its value too.
        Ids stay as sent: an e-mail as `actor_id` is who acted.
        """
        changes: dict[str, Any] = {}
        for section, name in (("error", "message"), ("policy", "reason")):
            node = event.get(section)
            if isinstance(node, dict) and isinstance(node.get(name), str):
                text = self.redact_text(node[name])
                if text != node[name]:
                    changes[section] = {**node, name: text}
        attrs = event.get("attributes")
        if isinstance(attrs, dict):
            redacted = self._redact_attributes(attrs)
            if redacted is not attrs:
                changes["attributes"] = redacted
        return {**event, **changes} if changes else event

    def _redact_attributes(self, attrs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        changed = False
        for key, value in attrs.items():
            new_key = self.redact_text(key)
            if isinstance(value, str):
                new_value = (
                    marker("secret_assignment")
                    if SECRET_KEY_NAMES.search(key)
                    else self.redact_text(value)
                )
            else:
                new_value = value
            while new_key in out:  # two keys redacted alike: keep both values
                new_key += "'"
            changed = changed or new_key != key or new_value is not value
            out[new_key] = new_value
        return out if changed else attrs

    def redact_document(self, value: Any) -> Any:
        """Every string of a parsed document, keys included (a quarantined line's `raw`)."""
        return _walk(value, self.redact_text)


def _matches(texts: pa.Array, pattern: str) -> pa.BooleanArray:
    """Which of `texts` match the RE2 `pattern` (Arrow's `match_substring_regex` kernel)."""
    return pc.call_function("match_substring_regex", [texts], pc.MatchSubstringOptions(pattern))


def _walk(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {fn(k): _walk(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    return value


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def unescape_lossy(text: str) -> str:
    """`\\uXXXX` escapes of a line that does not parse, decoded so redaction sees them."""
    return _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@cache
def _trigger_plan(
    patterns: tuple[tuple[str, str], ...],
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]] | None:
    """Literals to look for, split by case sensitivity; None if a pattern has no trigger."""
    plain: list[bytes] = [ESCAPE]
    folded: list[bytes] = [b"passw", b"secret", b"key"]  # attribute keys naming a secret
    for name, _ in patterns:
        if name not in TRIGGERS:
            return None
        (folded if name in CASE_INSENSITIVE else plain).extend(TRIGGERS[name])
    return tuple(plain), tuple(folded)


@cache
def _trigger_regex(plan: tuple[tuple[bytes, ...], tuple[bytes, ...]]) -> str:
    plain, folded = plan
    parts = [re.escape(t.decode()) for t in plain]
    if folded:
        parts.append("(?i:" + "|".join(re.escape(t.decode()) for t in folded) + ")")
    return "|".join(parts)


@cache
def _compile(
    patterns: tuple[tuple[str, str], ...],
) -> tuple[re.Pattern[str], re.Pattern[bytes], dict[str, str]]:
    # Inline flags such as (?i) must lead a pattern; scope them to their group instead.
    parts = []
    for name, rx in patterns:
        flags = ""
        if rx.startswith("(?i)"):
            flags, rx = "i", rx[4:]
        parts.append(f"(?P<{name}>(?{flags}:{rx}))" if flags else f"(?P<{name}>{rx})")
    text = "|".join(parts)
    return re.compile(text), re.compile(text.encode()), dict(patterns)


@cache
def _redactor_from_env(spec: str) -> Redactor:
    patterns = dict(DEFAULT_PATTERNS)
    if spec:
        raw = Path(spec).read_text() if not spec.lstrip().startswith("{") else spec
        extra = json.loads(raw)
        for name, rx in extra.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"redaction pattern name {name!r} must be an identifier")
            re.compile(rx)
            patterns[name] = rx
    return Redactor(tuple(patterns.items()))


DEFAULT_REDACTOR = Redactor(tuple(DEFAULT_PATTERNS.items()))

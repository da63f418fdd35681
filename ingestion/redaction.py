"""Redaction of secrets and e-mail addresses before anything is written anywhere.

The same `Redactor` runs over valid events (lake), rejected lines (quarantine) and log text.
Patterns are configurable: `AGENTOPS_REDACT_PATTERNS` may hold a JSON object of extra
`{"name": "regex"}` entries, or a path to a file with one.
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
import pyarrow.compute as pc

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
    "secret_assignment": r"(?i)\b(?:api[_-]?key|secret|password|passwd)\s*[=:]\s*[^\s\"',;]{6,}",
}


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
    "secret_assignment": (b"key", b"secret", b"passw"),
}
CASE_INSENSITIVE = {"bearer_token", "secret_assignment"}


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
        plan = self._plan
        if plan is not None:
            lowered = text.lower()
            if not any(t.decode() in text for t in plan[0]) and not any(
                t.decode() in lowered for t in plan[1]
            ):
                return text
        if not combined.search(text):
            return text
        return combined.sub(lambda m: marker(m.lastgroup or "secret"), text)

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

    def candidates(self, lines: list[bytes]) -> list[bool]:
        """`may_contain` for a whole chunk of lines at once, vectorised.

        One RE2 pass (Arrow's C++ kernel) over the chunk for the trigger literals costs about
        a microsecond a line; CPython's substring search per line and trigger costs tens.
        """
        plan = self._plan
        if plan is None:
            return [self._compiled[1].search(raw) is not None for raw in lines]
        mask = pc.match_substring_regex(
            pa.array(lines, type=pa.binary()), pattern=_trigger_regex(plan)
        )
        return mask.to_pylist()

    def candidate_lines(self, blob: bytes, lines: list[bytes]) -> Container[int]:
        """Indices of the lines of `blob` (split into `lines`) that `may_contain` secrets.

        One RE2 scan of the whole blob first: a chunk with no trigger at all, the common
        case, costs a fraction of a microsecond a line.
        """
        plan = self._plan
        if plan is not None:
            whole = pa.array([blob], type=pa.large_binary())
            if not pc.any(pc.match_substring_regex(whole, pattern=_trigger_regex(plan))).as_py():
                return frozenset()
        return {i for i, maybe in enumerate(self.candidates(lines)) if maybe}

    def redact_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Redact every string value in the event (ids included: an e-mail is PII anywhere)."""
        return _walk(event, self.redact_text)


def _walk(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _walk(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    return value


@cache
def _trigger_plan(
    patterns: tuple[tuple[str, str], ...],
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]] | None:
    """Literals to look for, split by case sensitivity; None if a pattern has no trigger."""
    plain: list[bytes] = []
    folded: list[bytes] = []
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

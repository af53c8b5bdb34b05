"""Regular expressions from requests (idPattern, ``~=`` in q): checked, compiled once,
and run with a time limit so that a hostile pattern cannot hang the broker."""

from __future__ import annotations

import functools

import regex

from thudo.errors import BadRequestData, TooComplexQuery

__all__ = ["MAX_PATTERN", "check_pattern", "compiled", "search"]

MAX_PATTERN = 512
_TIMEOUT_S = 0.05


@functools.lru_cache(maxsize=512)
def compiled(pattern: str) -> regex.Pattern[str]:
    """The compiled form of a pattern (cached)."""
    return regex.compile(pattern)


def check_pattern(pattern: str, what: str) -> str:
    """Check a regular expression from a request: its length and its syntax."""
    if len(pattern) > MAX_PATTERN:
        raise TooComplexQuery(f"{what}: the pattern is longer than {MAX_PATTERN} characters")
    try:
        compiled(pattern)
    except regex.error as exc:
        raise BadRequestData(
            f"{what}: {pattern!r} is not a valid regular expression: {exc}"
        ) from None
    return pattern


def search(pattern: str, value: str) -> bool:
    """Whether the pattern matches somewhere in value; TimeoutError past the time limit."""
    return compiled(pattern).search(value, timeout=_TIMEOUT_S) is not None

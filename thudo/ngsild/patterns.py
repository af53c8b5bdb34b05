"""Regular expressions from requests (idPattern, ``~=`` in q): checked (length, counted
repetitions, syntax), compiled once, and run with a time limit so that a hostile pattern
can neither exhaust memory nor hang the broker."""

from __future__ import annotations

import functools
import re

import regex

from thudo.errors import BadRequestData, TooComplexQuery

__all__ = ["MAX_EXPANSION", "MAX_PATTERN", "check_pattern", "compiled", "search"]

MAX_PATTERN = 512
#: How many pieces the compiled pattern may write out. The regex module expands counted
#: quantifiers ({n}, {n,m}) when it compiles: "a{99999999}" took gigabytes and nested ones
#: ("((a{1000}){1000}){1000}") never finished (measured). 100,000 pieces is about 40 MB.
MAX_EXPANSION = 100_000
_TIMEOUT_S = 0.05
_COUNT = re.compile(r"\{(\d+)(?:,(\d*))?\}")


@functools.lru_cache(maxsize=512)
def compiled(pattern: str) -> regex.Pattern[str]:
    """The compiled form of a pattern (cached)."""
    return regex.compile(pattern)


def check_pattern(pattern: str, what: str) -> str:
    """Check a regular expression from a request: its length and its syntax."""
    if len(pattern) > MAX_PATTERN:
        raise TooComplexQuery(f"{what}: the pattern is longer than {MAX_PATTERN} characters")
    if _expansion(pattern) > MAX_EXPANSION:
        raise TooComplexQuery(
            f"{what}: the counted repetitions ({{n}}) of {pattern!r} multiply to more than"
            f" {MAX_EXPANSION} pieces"
        )
    try:
        compiled(pattern)
    except regex.error as exc:
        raise BadRequestData(
            f"{what}: {pattern!r} is not a valid regular expression: {exc}"
        ) from None
    return pattern


def _expansion(pattern: str) -> int:
    """An upper bound of the pieces the compiled pattern writes out: every atom counts one,
    times the counts of the quantifiers on it and on each group around it."""
    totals = [0]  # the weight of each open group's content so far
    last = 0  # the weight of the atom or group just read, which a quantifier multiplies
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        count = _COUNT.match(pattern, i)
        if count is not None:
            times = max(int(n) for n in count.groups() if n)
            totals[-1] += last * (times - 1)
            last *= times
            i = count.end()
            continue
        if ch == "(":
            totals.append(0)
            i += 1
            continue
        if ch == ")" and len(totals) > 1:
            last = max(totals.pop(), 1)
        elif ch == "[":
            i = _class_end(pattern, i)
            last = 1
        else:
            i += 1 if ch != "\\" else 2
            totals[-1] += 1
            last = 1
            continue
        totals[-1] += last
        i += 1
    return sum(totals)


def _class_end(pattern: str, start: int) -> int:
    """The index of the "]" that closes the character class opened at ``start``."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def search(pattern: str, value: str) -> bool:
    """Whether the pattern matches somewhere in value; TimeoutError past the time limit."""
    return compiled(pattern).search(value, timeout=_TIMEOUT_S) is not None

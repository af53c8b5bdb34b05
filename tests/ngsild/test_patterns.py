"""Regular expressions from requests: bounded before the regex module compiles them."""

from __future__ import annotations

import pytest

from thudo.errors import TooComplexQuery
from thudo.ngsild.patterns import MAX_EXPANSION, check_pattern, search


@pytest.mark.parametrize(
    "pattern",
    [
        "a{99999999}",
        "a{2,200000}",
        "((a{1000}){1000}){1000}",
        "(?:a{1000}|b{1000}){1000}",
        "[0-9]{100001}",
        "\\\\{200000}",  # a counted backslash
    ],
)
def test_counted_repetitions_that_multiply_past_the_bound_are_refused(pattern: str) -> None:
    with pytest.raises(TooComplexQuery, match=str(MAX_EXPANSION)):
        check_pattern(pattern, "idPattern")


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("urn:ngsi-ld:Sensor:[0-9]{3}-[0-9]{4}", "urn:ngsi-ld:Sensor:123-4567"),
        ("a\\{99999999}", "a{99999999}"),  # an escaped brace is a literal, not a count
        ("[{]{5}x", "{{{{{x"),
        ("(ab){1000}", "ab" * 1000),
        ("^urn:.*:(x|y){2}$", "urn:a:xy"),
    ],
)
def test_ordinary_patterns_pass_and_match(pattern: str, value: str) -> None:
    assert check_pattern(pattern, "idPattern") == pattern
    assert search(pattern, value)

"""check_depth (thudo/api/call.py): the nesting limit on request payloads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.api.call import check_depth
from thudo.errors import BadRequestData

_JSON = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    """The nesting of a JSON value, by recursion: a scalar or an empty container counts 1."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values() if isinstance(v, dict | list)), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value if isinstance(v, dict | list)), default=0)
    return 1


@given(_JSON, st.integers(min_value=1, max_value=6))
def test_check_depth_rejects_exactly_the_deeper_payloads(value: Any, limit: int) -> None:
    if _depth(value) > limit:
        with pytest.raises(BadRequestData, match=f"deeper than {limit} levels"):
            check_depth(value, limit)
    else:
        check_depth(value, limit)


def test_check_depth_counts_lists_and_objects() -> None:
    check_depth([{"a": [1]}], 3)
    with pytest.raises(BadRequestData):
        check_depth([{"a": [[1]]}], 3)

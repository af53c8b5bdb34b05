"""Log lines hide passwords in URLs, in time linear in the length of the line."""

from __future__ import annotations

import pytest

from thudo.log import mask_secrets


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://thudo:s3cret@db:5432/x", "postgresql://thudo:***@db:5432/x"),
        ("to mqtt://dev:pw@h:1883 and http://a:b@c", "to mqtt://dev:***@h:1883 and http://a:***@c"),
        ("no password in http://host/x", "no password in http://host/x"),
        ("x" * 20 + "://u:p@h", "x" * 20 + "://u:***@h"),
    ],
)
def test_passwords_in_urls_are_masked(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_a_long_run_of_letters_is_masked_in_one_pass() -> None:
    """60,000 letters (a device id in an MQTT topic) once took 14 s to mask, stalling the
    event loop: the scheme was tried from every position of the run. No time is asserted;
    with the quadratic scan these 200,000 letters would keep the test running for minutes."""
    for text in ("f" * 200_000, "f" * 200_000 + "://", "a" * 100_000 + "://u:p@h" + "b" * 100_000):
        masked = mask_secrets(text)
        assert masked == text.replace("://u:p@h", "://u:***@h")

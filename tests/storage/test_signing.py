"""Signed URLs: `expires` comes from an unauthenticated query string and is parsed defensively (issue 14)."""

from __future__ import annotations

import pytest

from refvid.storage.signing import MAX_EXPIRES_DIGITS, parse_expires, sign, signed_query, verify

SECRET = "s3cret"
PATH = "/v1/results/task-unified-1-aaaaaaaa/video.mp4"


def test_a_signed_url_verifies_until_it_expires() -> None:
    query = dict(part.split("=") for part in signed_query(SECRET, PATH, 2_000_000_000).split("&"))
    assert verify(SECRET, PATH, query["expires"], query["sig"], now_s=1_999_999_999) == "ok"
    assert verify(SECRET, PATH, query["expires"], query["sig"], now_s=2_000_000_001) == "expired"
    assert verify(SECRET, PATH + "x", query["expires"], query["sig"], now_s=0) == "invalid"


@pytest.mark.parametrize("expires", ["9" * 4301, "9" * (MAX_EXPIRES_DIGITS + 1), "", None, "-5", "1e9", " 12",
                                     "１２３", "٣٣٣", "0x10"])
def test_malformed_expires_is_invalid_never_an_error(expires: str | None) -> None:
    assert parse_expires(expires) is None
    assert verify(SECRET, PATH, expires, "0" * 32) == "invalid"


@pytest.mark.parametrize("sig", ["é" * 32, "", None, "\x00" * 32, "z" * 10_000])
def test_malformed_signatures_are_invalid_never_an_error(sig: str | None) -> None:
    assert verify(SECRET, PATH, "2000000000", sig, now_s=0) == "invalid"


def test_the_longest_plausible_expiry_still_works() -> None:
    expires = int("9" * MAX_EXPIRES_DIGITS)
    assert verify(SECRET, PATH, str(expires), sign(SECRET, PATH, expires), now_s=0) == "ok"

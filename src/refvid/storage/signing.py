"""Signed, expiring URLs for results and uploads: HMAC-SHA256 over path and expiry.

`expires` arrives from the query string of an unauthenticated URL, so it is parsed defensively: a value
longer than any real Unix time is simply invalid (Python refuses to convert strings of more than 4,300 digits
to an int, and a 4,301-digit `expires` used to reach that conversion and answer 500).
"""

from __future__ import annotations

import hashlib
import hmac
import time

MAX_EXPIRES_DIGITS = 12  # Unix seconds stay below 10**12 until the year 33658


def sign(secret: str, path: str, expires_at: int) -> str:
    message = f"{path}\n{expires_at}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def signed_query(secret: str, path: str, expires_at: int) -> str:
    return f"expires={expires_at}&sig={sign(secret, path, expires_at)}"


def parse_expires(expires: str | None) -> int | None:
    """`expires` as Unix seconds, or None when it is missing, not plain ASCII digits, or absurdly long."""
    if not expires or len(expires) > MAX_EXPIRES_DIGITS or not (expires.isascii() and expires.isdigit()):
        return None
    return int(expires)


def verify(secret: str, path: str, expires: str | None, sig: str | None, now_s: float | None = None) -> str:
    """'ok', 'expired' or 'invalid'. Constant-time comparison of the signature."""
    expires_at = parse_expires(expires)
    if expires_at is None or not sig:
        return "invalid"
    if not hmac.compare_digest(sign(secret, path, expires_at), sig.encode("ascii", "replace").decode()):
        return "invalid"
    if expires_at < (now_s if now_s is not None else time.time()):
        return "expired"
    return "ok"

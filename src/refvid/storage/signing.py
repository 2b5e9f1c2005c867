"""Signed, expiring URLs for results and uploads: HMAC-SHA256 over path and expiry."""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(secret: str, path: str, expires_at: int) -> str:
    message = f"{path}\n{expires_at}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def signed_query(secret: str, path: str, expires_at: int) -> str:
    return f"expires={expires_at}&sig={sign(secret, path, expires_at)}"


def verify(secret: str, path: str, expires: str | None, sig: str | None, now_s: float | None = None) -> str:
    """'ok', 'expired' or 'invalid'. Constant-time comparison of the signature."""
    if not expires or not sig or not expires.isdigit():
        return "invalid"
    if not hmac.compare_digest(sign(secret, path, int(expires)), sig):
        return "invalid"
    if int(expires) < (now_s if now_s is not None else time.time()):
        return "expired"
    return "ok"

"""The rows of per-key webhook signing secrets (`webhook_secrets`).

Making and rotating secrets is `refvid.webhooks.secrets.WebhookSecrets`; this module only stores them. At most
one secret per key has no expiry (the current one; a unique index enforces it), rotated-out ones carry the end
of their grace period.
"""

from __future__ import annotations

import time
from typing import Any

from refvid.tasks.store.base import StoreCore


class SecretStore:
    """Queries of `webhook_secrets`, each in its own transaction."""

    def __init__(self, core: StoreCore):
        self._core = core

    def secrets_of(self, owner: str, now: float) -> list[dict[str, Any]]:
        """The key's valid secrets, the current one (no expiry) first, then rotated-out ones."""
        with self._core.transaction(write=False) as q:
            rows = q("""SELECT secret, created_at, expires_at FROM webhook_secrets
                        WHERE owner = ? AND (expires_at IS NULL OR expires_at > ?)""", (owner, now))
        return sorted(rows, key=lambda r: (r["expires_at"] is not None, -float(r["created_at"])))

    def insert_current_secret(self, owner: str, secret: str, retire_after_s: float | None) -> None:
        """Store `secret` as the key's current one. `retire_after_s`: rotate, the previous current secret
        stays valid that long; None: only if the key has none (a concurrent insert fails the unique index)."""
        now = time.time()
        with self._core.transaction(write=True) as q:
            if retire_after_s is not None:
                q("UPDATE webhook_secrets SET expires_at = ? WHERE owner = ? AND expires_at IS NULL",
                  (now + retire_after_s, owner))
            elif q("SELECT 1 AS x FROM webhook_secrets WHERE owner = ? AND expires_at IS NULL", (owner,)):
                return
            q("INSERT INTO webhook_secrets (owner, secret, created_at, expires_at) VALUES (?, ?, ?, NULL)",
              (owner, secret, now))

    def purge_expired(self, now: float) -> int:
        """Forget rotated-out secrets whose grace period ended before `now`."""
        with self._core.transaction(write=True) as q:
            gone = q("DELETE FROM webhook_secrets WHERE expires_at IS NOT NULL AND expires_at < ? RETURNING owner",
                     (now,))
        return len(gone)

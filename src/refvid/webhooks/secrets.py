"""Per-key webhook signing secrets and Standard Webhooks signatures.

Each API key has one current secret `whsec_<base64 of 24 random bytes>`, created on first use (the first
`GET /v1/webhooks/secret` or the first delivery, whichever comes first). Rotating makes a new current secret
and keeps the previous one valid for `Settings.webhook_secret_grace_s` (24 h): during that time every
delivery carries one signature per valid secret, space-separated (`v1,<new> v1,<old>`), so a receiver
still configured with the old secret keeps verifying while it is updated.

Secrets are stored in the database in the clear: signing needs them (docs/security.md says what that means).
The rows live in the task store (`refvid.tasks.store.SecretStore`); this module makes, rotates and uses them.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook

from refvid.tasks.store import SecretStore, StoreCore

log = logging.getLogger(__name__)
SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
SECRET_BYTES = 24


def new_secret() -> str:
    """A fresh `whsec_…` secret (the format `standardwebhooks.Webhook` accepts)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_header(signing_secrets: Sequence[str], message_id: str, timestamp_s: int, body: str) -> str:
    """`webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret, space-separated."""
    at = datetime.fromtimestamp(timestamp_s, tz=UTC)
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in signing_secrets)


@dataclass(frozen=True)
class SecretInfo:
    """A key's current secret; `previous_expires_at` is when the rotated-out one stops signing (or None)."""

    secret: str
    created_at: float
    previous_expires_at: float | None


class WebhookSecrets:
    """Read, create and rotate a key's secrets (stored through the task store's `SecretStore`)."""

    def __init__(self, store: StoreCore, grace_s: float):
        self._rows = SecretStore(store)
        self._grace_s = grace_s

    def current(self, owner: str) -> SecretInfo:
        """The key's current secret, created if it has none yet."""
        info = self._read(owner)
        if info is not None:
            return info
        try:
            self._rows.insert_current_secret(owner, new_secret(), retire_after_s=None)
        except Exception:  # another process created it first (unique index): use theirs
            log.debug("webhook secret for %s created concurrently", owner, exc_info=True)
        info = self._read(owner)
        if info is None:
            raise RuntimeError(f"could not create a webhook secret for {owner}")
        return info

    def rotate(self, owner: str) -> SecretInfo:
        """Make a new current secret; the previous one keeps signing for the grace period."""
        try:
            self._rows.insert_current_secret(owner, new_secret(), retire_after_s=self._grace_s)
        except Exception:  # a concurrent rotation won the unique index: its secret is the new one
            log.debug("webhook secret for %s rotated concurrently", owner, exc_info=True)
        return self.current(owner)

    def signing_secrets(self, owner: str) -> list[str]:
        """Every secret a delivery is signed with right now, the current one first."""
        current = self.current(owner).secret
        rows = self._rows.secrets_of(owner, time.time())
        return [current, *(str(r["secret"]) for r in rows if r["secret"] != current)]

    def purge_expired(self) -> int:
        """Forget rotated-out secrets whose grace period is over."""
        return self._rows.purge_expired(time.time())

    def _read(self, owner: str) -> SecretInfo | None:
        rows = self._rows.secrets_of(owner, time.time())
        if not rows or rows[0]["expires_at"] is not None:
            return None
        previous = [float(r["expires_at"]) for r in rows[1:]]
        return SecretInfo(secret=str(rows[0]["secret"]), created_at=float(rows[0]["created_at"]),
                          previous_expires_at=max(previous) if previous else None)

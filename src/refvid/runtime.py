"""Everything a process needs, built once from Settings: store, blobs, waker, keys, signing secret."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from refvid.config import Settings
from refvid.storage.base import BlobStore, open_blob_store
from refvid.tasks.store import SqlStore, open_store
from refvid.tasks.wakeup import LocalWaker, Waker

KEY_PREFIX = "rv-"
KEY_RELOAD_S = 10.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key_hash: str) -> str:
    return "key_" + key_hash[:16]


def open_waker(store: SqlStore, folder: Path, wait_listening: bool = False) -> Waker:
    """The store's own waker (PostgreSQL: LISTEN/NOTIFY), else Unix datagrams in `folder`.
    `wait_listening` blocks until a LISTEN is in place, for callers that notify right away (tests, benches)."""
    factory = getattr(store, "open_waker", None)
    if factory is None:
        return LocalWaker(folder)
    waker: Waker = factory()
    if wait_listening:
        waker.wait_listening()  # type: ignore[attr-defined]
    return waker


@dataclass
class Runtime:
    settings: Settings
    store: SqlStore
    blobs: BlobStore
    waker: Waker
    signing_secret: str
    _db_keys: dict[str, str] = field(default_factory=dict)
    _db_keys_at: float = 0.0
    _configured_keys: set[str] | None = field(default=None, init=False)  # not carried over by replace()
    _owners: dict[str, str] = field(default_factory=dict, init=False)  # presented key → key id, known keys only
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.resolved_database_url, pool_size=settings.database_pool_size)
        blobs = open_blob_store(settings.resolved_storage_url, endpoint_url=settings.s3_endpoint_url,
                                access_key_id=settings.s3_access_key_id,
                                secret_access_key=settings.s3_secret_access_key, region=settings.s3_region)
        secret = store.meta_get_or_set("url_signing_secret", lambda: secrets.token_hex(32))
        return cls(settings, store, blobs, open_waker(store, Path(settings.data_dir) / "wake"), secret)

    def close(self) -> None:
        self.waker.close()
        self.store.close()

    def ensure_api_key(self) -> str | None:
        """With no REFVID_API_KEYS and no key in the database, create one; return it (shown once)."""
        if self.settings.api_keys or self.store.api_key_hashes():
            return None
        key = KEY_PREFIX + secrets.token_urlsafe(24)
        key_hash = hash_key(key)
        self.store.add_api_key(key_id_of(key_hash), key_hash, label="generated on first start")
        return key

    def create_api_key(self, label: str | None = None) -> str:
        key = KEY_PREFIX + secrets.token_urlsafe(24)
        key_hash = hash_key(key)
        self.store.add_api_key(key_id_of(key_hash), key_hash, label=label)
        return key

    def owner_of(self, key: str) -> str | None:
        """The key's id (tasks and files belong to it), or None for an unknown key."""
        owner = self._owners.get(key)  # every request asks: skip the hash for keys already seen
        if owner is None:
            owner = self._owner_of_hash(hash_key(key))
            if owner is not None:
                self._owners[key] = owner  # bounded: only keys that exist get here
        return owner

    def _owner_of_hash(self, key_hash: str) -> str | None:
        if self.settings.api_keys:
            if self._configured_keys is None:  # hashed once, not on every request
                self._configured_keys = {hash_key(k) for k in self.settings.api_keys}
            return key_id_of(key_hash) if key_hash in self._configured_keys else None
        owner = self._db_keys.get(key_hash)
        if owner is None and time.monotonic() - self._db_keys_at > 1.0:
            # Keys created by another node (or `refvid keys create`) show up without a restart.
            with self._lock:
                self._db_keys = self.store.api_key_hashes()
                self._db_keys_at = time.monotonic()
            owner = self._db_keys.get(key_hash)
        return owner

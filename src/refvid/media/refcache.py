"""A disk cache of fetched-and-probed references, so a URL used by many tasks is downloaded and probed once.

Layout: `<data_dir>/refcache/<sha256>` holds the bytes (read-only, hard-linked into task work dirs) and
`<sha256>.json` the probed MediaInfo. Keys:

- `data:` URLs: the URL *is* the content, so the key is its hash and never goes stale;
- our own upload URLs: the hash of the file behind them (the resolver is still consulted on every use,
  so whatever access rules it applies keep applying);
- http(s) URLs: the URL, valid for `ttl_s` (remote content may change).

Only successes are stored: a fetch refused by the address policy or a probe failure is never cached, so
every request for a forbidden URL goes through the checks again. Concurrent requests for the same key in one
process wait for a single fetch (a lock per key); across processes, atomic renames keep entries whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from refvid.config import Settings
from refvid.media.info import MediaInfo, MediaKind

DEFAULT_TTL_S = 600.0
DEFAULT_MAX_AGE_S = 24 * 3600.0
_STRAY_AGE_S = 3600.0  # temp files older than this were left by a crashed process


@dataclass(frozen=True)
class CacheKey:
    """A cache slot. `expires`: the entry is only valid for the cache's TTL (http(s) URLs)."""

    digest: str
    expires: bool


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _link_or_copy(source: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        if not source.exists():
            raise
        shutil.copyfile(source, dest)  # another filesystem: a copy is fine, just slower


class RefCache:
    """Fetch-and-probe results shared by all tasks of this data dir. Thread-safe."""

    def __init__(self, root: Path, *, ttl_s: float = DEFAULT_TTL_S, max_age_s: float = DEFAULT_MAX_AGE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.root, self.ttl_s, self.max_age_s, self._clock = root, ttl_s, max_age_s, clock
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @classmethod
    def for_settings(cls, settings: Settings, *, ttl_s: float = DEFAULT_TTL_S) -> RefCache:
        """The cache under `<data_dir>/refcache`."""
        return cls(settings.data_dir / "refcache", ttl_s=ttl_s)

    @staticmethod
    def key_for(kind: MediaKind, url: str, internal_path: Path | None = None) -> CacheKey | None:
        """The key for `url` fetched as `kind`; None when it cannot be cached (an upload that is gone)."""
        if internal_path is not None:
            try:
                return CacheKey(hashlib.sha256(f"file\0{kind}\0{_sha256_file(internal_path)}".encode())
                                .hexdigest(), expires=False)
            except OSError:
                return None  # let the fetcher report the missing upload
        is_data = url[:5].lower() == "data:"
        namespace = "data" if is_data else "url"
        digest = hashlib.sha256(f"{namespace}\0{kind}\0{url}".encode()).hexdigest()
        return CacheKey(digest, expires=not is_data)

    def get_or_create(self, key: CacheKey, dest: Path, create: Callable[[Path], MediaInfo]) -> MediaInfo:
        """Place the cached file at `dest` and return its info.

        On a miss, `create(tmp_path)` must write the file (fetch) and return its MediaInfo (probe).
        Exceptions from `create` propagate and cache nothing."""
        with self._lock(key.digest):
            info = self._lookup(key, dest)
            if info is not None:
                return info
            self.root.mkdir(parents=True, exist_ok=True)
            blob, tmp = self.root / key.digest, self.root / f".{key.digest}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                info = create(tmp)
                tmp.chmod(0o444)  # hard links share it: an engine writing to its reference must fail loudly
                os.replace(tmp, blob)
                meta = {"created_at": self._clock(), "expires": key.expires, "info": info.to_dict()}
                tmp.write_text(json.dumps(meta))
                os.replace(tmp, blob.with_suffix(".json"))
            finally:
                tmp.unlink(missing_ok=True)
            _link_or_copy(blob, dest)
            return info

    def prune(self) -> int:
        """Delete expired entries and stray temp files; returns how many files were removed. Safe to run
        while other threads/processes use the cache (a reader that loses a race just misses)."""
        removed, now = 0, self._clock()
        for path in list(self.root.iterdir()) if self.root.is_dir() else []:
            try:
                if path.suffix == ".json":
                    meta = json.loads(path.read_text())
                    if now - float(meta["created_at"]) <= (self.ttl_s if meta["expires"] else self.max_age_s):
                        continue
                    blob = path.with_suffix("")
                    if blob.exists():
                        blob.unlink()
                        removed += 1
                elif path.name.startswith(".") or not path.with_suffix(".json").exists():
                    if now - path.stat().st_mtime <= _STRAY_AGE_S:
                        continue
                else:
                    continue
                path.unlink(missing_ok=True)
                removed += 1
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return removed

    def _lookup(self, key: CacheKey, dest: Path) -> MediaInfo | None:
        blob = self.root / key.digest
        try:
            meta = json.loads(blob.with_suffix(".json").read_text())
            if key.expires and self._clock() - float(meta["created_at"]) > self.ttl_s:
                return None
            info = MediaInfo.from_dict(meta["info"])
            if blob.stat().st_size != info.size_bytes:
                return None  # half-replaced or tampered with: fetch again
            _link_or_copy(blob, dest)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return info

    def _lock(self, digest: str) -> _KeyLock:
        return _KeyLock(self, digest)


class _KeyLock:
    """Context manager for one key's lock; the lock is dropped from the table when nobody holds or waits."""

    def __init__(self, cache: RefCache, digest: str) -> None:
        self._cache, self._digest = cache, digest

    def __enter__(self) -> None:
        cache = self._cache
        with cache._guard:
            lock, users = cache._locks.get(self._digest, (threading.Lock(), 0))
            cache._locks[self._digest] = (lock, users + 1)
        lock.acquire()

    def __exit__(self, *exc: object) -> None:
        cache = self._cache
        with cache._guard:
            lock, users = cache._locks[self._digest]
            lock.release()
            if users == 1:
                del cache._locks[self._digest]
            else:
                cache._locks[self._digest] = (lock, users - 1)

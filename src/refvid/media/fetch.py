"""Downloading one reference from an untrusted URL into a local file, safely.

Three sources: our own upload URLs (resolved to a local file by a hook, no HTTP), `data:` URLs (base64) and
http(s) URLs fetched through netguard's connect-time address check. Every failure is a `ReferenceFailure`
whose message starts with the caller's label (`image_urls[2]: ...`) and whose code is a spec §6 code.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote_to_bytes

import httpx

from refvid.config import Settings
from refvid.contract import format_mb, size_over
from refvid.errors import Cancelled, ReferenceFailure
from refvid.net.guard import (
    AddressPolicy,
    Connector,
    ForbiddenDestination,
    GuardedBackend,
    GuardedTransport,
    Resolver,
    check_url,
)

FORBIDDEN, FAILED, TOO_LARGE = "reference_forbidden_host", "reference_fetch_failed", "reference_too_large"
MAX_STEP_TIMEOUT_S = 10.0  # one connect or read may stall this long (the total deadline still applies)
_REDIRECTS = {301, 302, 303, 307, 308}

InternalResolver = Callable[[str], Path | None]


@dataclass(frozen=True)
class FetchResult:
    """Where the bytes landed and how they got there."""

    path: Path
    size_bytes: int
    source: Literal["internal", "data", "http"]
    final_url: str


class Fetcher:
    """Fetches references into files. Thread-safe: each http(s) fetch uses its own short-lived client.

    `resolve_internal(url)` maps a URL this server issued (an upload) to a local file, or returns None;
    `resolver`/`connector` replace DNS and TCP connect (tests stub them; see netguard).
    """

    def __init__(self, settings: Settings, resolve_internal: InternalResolver | None = None, *,
                 resolver: Resolver | None = None, connector: Connector | None = None) -> None:
        self.settings = settings
        self.policy = AddressPolicy(settings.fetch_allow_hosts)
        self._resolve_internal = resolve_internal
        self._resolver, self._connector = resolver, connector
        self._ssl_context = httpx.create_ssl_context(trust_env=False)  # shared: SSLContext is thread-safe

    def internal_path(self, url: str) -> Path | None:
        """The local file behind one of our own upload URLs, or None for any other URL."""
        return self._resolve_internal(url) if self._resolve_internal else None

    def fetch(self, url: str, dest: Path, *, label: str, max_bytes: int,
              cancelled: Callable[[], bool] | None = None) -> FetchResult:
        """Write the bytes behind `url` to `dest` (atomically) and return where they came from.

        Raises ReferenceFailure (forbidden host, fetch failed, too large) or Cancelled.
        """
        internal = self.internal_path(url)
        if internal is not None:
            return self.fetch_internal(internal, url, dest, label=label, max_bytes=max_bytes)
        if url[:5].lower() == "data:":
            return _write_data_url(url, dest, label, max_bytes)
        return self._fetch_http(url, dest, label, max_bytes, cancelled)

    def fetch_internal(self, source: Path, url: str, dest: Path, *, label: str, max_bytes: int) -> FetchResult:
        """Place an upload that `internal_path(url)` already resolved to `source` at `dest` (link or copy)."""
        return _copy_internal(source, url, dest, label, max_bytes)

    def _fetch_http(self, url: str, dest: Path, label: str, max_bytes: int,
                    cancelled: Callable[[], bool] | None) -> FetchResult:
        timeout_s = self.settings.fetch_timeout_s
        backend = GuardedBackend(self.policy, self._resolver, self._connector,
                                 deadline=time.monotonic() + timeout_s)
        client = httpx.Client(
            transport=GuardedTransport(backend, self._ssl_context), trust_env=False, follow_redirects=False,
            timeout=httpx.Timeout(min(timeout_s, MAX_STEP_TIMEOUT_S)),
            # identity: we store what the server sends and count raw bytes, so no gzip bomb can inflate it.
            headers={"User-Agent": "refvid/1 (reference fetcher)", "Accept-Encoding": "identity"},
        )
        try:
            with client:
                return self._follow(client, url, dest, label, max_bytes, cancelled)
        except ForbiddenDestination as exc:
            # A blocked address (not a bad scheme) may be a local test server: say how to allow it.
            hint = f" (to allow it, e.g. for local testing: REFVID_FETCH_ALLOW_HOSTS={exc.host})" if exc.address else ""
            raise ReferenceFailure(f"{label}: {exc.reason}{hint}", code=FORBIDDEN) from exc
        except httpx.TimeoutException as exc:
            message = f"{label}: download timed out (limit {timeout_s:g} s)"
            raise ReferenceFailure(message, code=FAILED) from exc
        except (httpx.InvalidURL, ValueError) as exc:  # ValueError: e.g. idna.IDNAError for "xn--"
            raise ReferenceFailure(f"{label}: invalid URL ({exc})", code=FAILED) from exc
        except httpx.HTTPError as exc:
            raise ReferenceFailure(f"{label}: download failed ({exc})", code=FAILED) from exc

    def _follow(self, client: httpx.Client, url: str, dest: Path, label: str, max_bytes: int,
                cancelled: Callable[[], bool] | None) -> FetchResult:
        current = httpx.URL(url)
        for _hop in range(self.settings.fetch_max_redirects + 1):
            check_url(current)  # every hop: scheme and userinfo; the address is checked at connect time
            with client.stream("GET", current) as response:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    current = response.url.join(location)
                    continue
                if not response.is_success:
                    status = response.status_code
                    raise ReferenceFailure(f"{label}: server answered HTTP {status}", code=FAILED)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:  # early out; never trusted as a bound
                    raise _too_large(label, int(declared), max_bytes)
                size = _stream_to_file(response, dest, label, max_bytes, cancelled)
                return FetchResult(dest, size, "http", str(response.url))
        raise ReferenceFailure(
            f"{label}: more than {self.settings.fetch_max_redirects} redirects", code=FAILED)


def _too_large(label: str, size_bytes: int, max_bytes: int, *, at_least: bool = False) -> ReferenceFailure:
    if at_least:  # streaming stopped at the limit: the real size is unknown
        return ReferenceFailure(f"{label}: file exceeds the {format_mb(max_bytes)} limit", code=TOO_LARGE)
    return ReferenceFailure(f"{label}: file is {size_over(size_bytes, max_bytes)}", code=TOO_LARGE)


def _temp_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")


def _stream_to_file(response: httpx.Response, dest: Path, label: str, max_bytes: int,
                    cancelled: Callable[[], bool] | None) -> int:
    tmp = _temp_path(dest)
    size = 0
    try:
        with tmp.open("wb") as out:
            for chunk in response.iter_raw():  # as the socket delivers: no waiting for a full chunk
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(label, size, max_bytes, at_least=True)
                if cancelled is not None and cancelled():
                    raise Cancelled()
                out.write(chunk)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def _write_data_url(url: str, dest: Path, label: str, max_bytes: int) -> FetchResult:
    header, comma, payload = url[5:].partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise ReferenceFailure(f"{label}: data: URLs must be base64 (data:<type>;base64,<data>)",
                               code="reference_invalid")
    # Check the encoded length first so an oversized payload is never decoded into memory.
    if len(payload) // 4 * 3 > max_bytes + 3:
        raise _too_large(label, len(payload) // 4 * 3, max_bytes, at_least=True)
    try:
        data = base64.b64decode(b"".join(unquote_to_bytes(payload).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ReferenceFailure(f"{label}: data: URL is not valid base64", code="reference_invalid") from exc
    if len(data) > max_bytes:
        raise _too_large(label, len(data), max_bytes)
    tmp = _temp_path(dest)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return FetchResult(dest, len(data), "data", "data:")


def _copy_internal(source: Path, url: str, dest: Path, label: str, max_bytes: int) -> FetchResult:
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise ReferenceFailure(f"{label}: uploaded file is no longer available", code=FAILED) from exc
    if size > max_bytes:
        raise _too_large(label, size, max_bytes)
    tmp = _temp_path(dest)
    try:
        try:
            os.link(source, tmp)  # same filesystem: free, and uploads are never modified in place
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        raise ReferenceFailure(f"{label}: uploaded file could not be read ({exc})", code=FAILED) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return FetchResult(dest, size, "internal", url)

"""HTTP to one upstream: one pooled `httpx.Client` per upstream for the whole process (shared by every job
followed there, so nothing grows per task), retries with backoff, and the rules that keep an operator's
upstream from becoming a way into our network or out of it:

- the URL is the operator's (the pool file); nothing a user sends reaches a request line here;
- redirects are never followed, and the environment's proxies are ignored (`trust_env=False`);
- a result is downloaded only from the upstream's own origin: a job pointing elsewhere fails.

Retries: a connection that never opened, a timeout of an idempotent call, 429, and 5xx answers without a job
body are retried with exponential backoff (full jitter) until `outage_s` has passed; only then does the task
fail (`upstream_error`). A 5xx answer that carries the job's JSON (vLLM-Omni answers a failed job that way)
is returned to the provider, which reads it as the job's state.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from refvid.engines.upstream.config import UpstreamConfig
from refvid.errors import TaskFailure
from refvid.metrics import UPSTREAM_FAILURES, UPSTREAM_REQUEST_SECONDS
from refvid.net.guard import ForbiddenDestination

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_VIDEO_BYTES = 2 * 1024**3
CHUNK_BYTES = 1024 * 1024
BACKOFF_S, BACKOFF_MAX_S = 0.2, 10.0


class Unreachable(TaskFailure):
    """The upstream could not be reached (refused, timed out, or kept answering 5xx) for longer than allowed."""

    code = "upstream_error"


class Refused(Unreachable):
    """A create found the upstream refusing connections: nothing was submitted, another upstream may take it."""


class JobGone(Exception):
    """The upstream does not know the job (404): its process restarted and its in-memory job store is empty."""


def job_body(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object of a job (has `id` and `status`), or None when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and "id" in body and "status" in body else None


def error_detail(response: httpx.Response) -> str:
    """The upstream's own words: vLLM's `{"error": {"message"}}`, FastAPI's `{"detail"}`, else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(body, dict):
        error, detail = body.get("error"), body.get("detail")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if detail is not None:
            return str(detail)
    return str(body)[:300]


class UpstreamHttp:
    """Requests to one upstream's API."""

    def __init__(self, config: UpstreamConfig, transport: httpx.BaseTransport | None = None,
                 on_reachable: Callable[[bool], None] | None = None):
        self.config = config
        self.outage_s = max(30.0, 4 * config.poll_interval_s)
        self._on_reachable = on_reachable or (lambda ok: None)
        headers = {"Accept": "application/json"}
        key = config.key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(base_url=config.url, headers=headers, transport=transport, trust_env=False,
                                    follow_redirects=False,
                                    timeout=httpx.Timeout(config.timeout_s, connect=min(5.0, config.timeout_s)),
                                    limits=httpx.Limits(max_connections=max(4, config.max_in_flight * 2)))

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, action: str, sleep: Callable[[float], None], *,
             create: bool = False, **kwargs: Any) -> httpx.Response:
        """One API call, retried as the module docstring says. A create is retried only when the upstream
        certainly made no job (the connection never opened, or 429/502/503/504 answers). Returns the response
        (2xx, or any status whose body is a job); raises JobGone on 404 of a job path, TaskFailure otherwise."""
        name = self.config.name
        deadline = time.monotonic() + self.outage_s
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                UPSTREAM_FAILURES.labels(name, "unreachable").inc()
                self._on_reachable(False)
                if create and never_sent:
                    raise Refused(f"upstream {name} refused the connection: {exc}") from exc
                if create or time.monotonic() >= deadline:
                    raise Unreachable(f"upstream {name} did not answer the request to {action}: "
                                      f"{type(exc).__name__}: {exc}") from exc
                sleep(self._backoff(attempt))
                continue
            UPSTREAM_REQUEST_SECONDS.labels(name, method).observe(time.monotonic() - started)
            has_job = job_body(response) is not None
            self._on_reachable(response.status_code < 500 or has_job)  # bare 5xx answers count as failing
            if response.is_success or (response.status_code >= 400 and has_job and response.status_code != 404):
                return response
            if response.status_code == 404 and not create:
                raise JobGone(error_detail(response))
            retry = response.status_code in RETRY_STATUSES and (not create or response.status_code != 500)
            if response.status_code >= 500:
                UPSTREAM_FAILURES.labels(name, "http_5xx").inc()
            if retry and time.monotonic() >= deadline:
                raise Unreachable(f"upstream {name} kept answering HTTP {response.status_code} to the request to "
                                  f"{action}: {error_detail(response)}")
            if not retry:
                rejected = response.status_code in (400, 413, 415, 422)
                raise TaskFailure(f"upstream {name} {'refused' if rejected else 'failed'} to {action} "
                                  f"(HTTP {response.status_code}): {error_detail(response)}",
                                  code="upstream_rejected" if rejected else "upstream_error")
            log.info("upstream %s answered %s to %s %s; retrying", name, response.status_code, method, path)
            sleep(self._backoff(attempt))

    def delete_once(self, path: str, timeout_s: float) -> httpx.Response:
        """One DELETE without retries (a cancel runs inside the worker's short cancellation grace)."""
        return self._client.delete(path, timeout=timeout_s)

    def download(self, url: str, dest: Path, sleep: Callable[[float], None], max_bytes: int = MAX_VIDEO_BYTES,
                 elsewhere: httpx.Client | None = None) -> int:
        """Stream the job's video (a path of the upstream, or a URL on its own origin) into `dest`. A URL on
        another origin is fetched only through `elsewhere` (the guarded client: public addresses only), and
        only for providers whose results live on a public object store (Ark)."""
        absolute = urljoin(self.config.url + "/", url)
        parts = urlsplit(absolute)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        own = (parts.scheme, (parts.hostname or "").lower(), port) == self.config.origin
        if not own and elsewhere is not None:
            return self._stream(elsewhere, absolute, dest, max_bytes, sleep)
        if not own:
            raise TaskFailure(f"upstream {self.config.name} pointed the result at another origin "
                              f"({parts.scheme}://{parts.hostname}); results are fetched only from the upstream "
                              "itself", code="upstream_error")
        return self._stream(self._client, absolute, dest, max_bytes, sleep)

    def _stream(self, client: httpx.Client, url: str, dest: Path, max_bytes: int,
                sleep: Callable[[float], None]) -> int:
        deadline = time.monotonic() + self.outage_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._download_once(client, url, dest, max_bytes)
            except ForbiddenDestination as exc:
                raise TaskFailure(f"upstream {self.config.name} pointed the result at a forbidden address: {exc}",
                                  code="upstream_error") from exc
            except (httpx.TransportError, _Retryable) as exc:
                if time.monotonic() >= deadline:
                    raise Unreachable(f"downloading the result of upstream {self.config.name} failed: {exc}") from exc
                sleep(self._backoff(attempt))

    def _download_once(self, client: httpx.Client, url: str, dest: Path, max_bytes: int) -> int:
        partial = dest.with_name(dest.name + ".part")
        size = 0
        with client.stream("GET", url, headers={"Accept": "video/mp4, application/octet-stream"}) as response:
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {response.status_code}")
            if not response.is_success:
                response.read()
                raise TaskFailure(f"upstream {self.config.name} refused the result download (HTTP "
                                  f"{response.status_code}): {error_detail(response)}", code="upstream_error")
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TaskFailure(f"upstream {self.config.name}'s video is larger than {max_bytes} bytes",
                                          code="upstream_error")
                    out.write(chunk)
        if size == 0:
            raise TaskFailure(f"upstream {self.config.name}'s video is empty", code="upstream_error")
        partial.replace(dest)
        return size

    @staticmethod
    def _backoff(attempt: int) -> float:
        return random.uniform(BACKOFF_S / 2, min(BACKOFF_MAX_S, BACKOFF_S * 2 ** min(attempt, 10)))


class _Retryable(Exception):
    """A download answered 429/5xx: try again."""

"""A small synchronous client for ByteDance's Ark video-generation task API (BytePlus ModelArk and
Volcengine Ark share the contract): create, retrieve and cancel/delete a task, and download its video.

- Auth: `Authorization: Bearer <key>` on every Ark call; never on the video download (a presigned URL).
- Retries: HTTP 429 and 5xx, and connection failures, are retried with exponential backoff and full jitter,
  honouring `Retry-After` (seconds or an HTTP date), up to `max_retries` times. A create call is retried
  only when the provider certainly did not create a task (429/5xx answers, or a connection that never
  opened); a create whose answer was lost fails instead of risking a second, billed upstream task.
- Sleeping goes through the injected `sleep`, so the engine can make every wait cancellable.
- Errors become `TaskFailure`s with a spec §6 code: `upstream_rejected` when the provider refused the input
  (400/413/422: invalid parameter, sensitive content), `upstream_error` otherwise. The provider's own error
  code is always in the message.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from refvid.errors import TaskFailure

log = logging.getLogger(__name__)

TASKS_PATH = "/contents/generations/tasks"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REJECTED_STATUSES = frozenset({400, 413, 422})
MAX_VIDEO_BYTES = 2 * 1024**3
DOWNLOAD_CHUNK_BYTES = 1024 * 1024


class ArkError(TaskFailure):
    """The Ark API answered with an error (or not at all)."""

    code = "upstream_error"

    def __init__(self, message: str, *, code: str = "upstream_error", http_status: int | None = None,
                 provider_code: str | None = None):
        super().__init__(message, code=code)
        self.http_status = http_status
        self.provider_code = provider_code


def error_envelope(response: httpx.Response) -> dict[str, Any]:
    """The provider's `{"error": {"code", "message", "type"}}` body, or {} if the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def error_from_response(response: httpx.Response, action: str) -> ArkError:
    """Map an HTTP error answer to `upstream_rejected` (input refused) or `upstream_error`."""
    error = error_envelope(response)
    provider_code = str(error.get("code") or f"HTTP{response.status_code}")
    detail = str(error.get("message") or response.text[:300] or response.reason_phrase).strip()
    status = response.status_code
    code = "upstream_rejected" if status in REJECTED_STATUSES else "upstream_error"
    verb = "refused" if code == "upstream_rejected" else "failed"
    return ArkError(f"the provider {verb} to {action} ({provider_code}, HTTP {status}): {detail}",
                    code=code, http_status=status, provider_code=provider_code)


def retry_after_s(response: httpx.Response, now_s: float | None = None) -> float | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now_s if now_s is not None else time.time()))


class ArkClient:
    """One API key against one Ark base URL (`…/api/v3`)."""

    def __init__(self, api_key: str, base_url: str, *, timeout_s: float = 30.0, max_retries: int = 5,
                 backoff_s: float = 1.0, backoff_max_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.sleep = sleep
        timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self._api = httpx.Client(timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
        self._files = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)

    def close(self) -> None:
        self._api.close()
        self._files.close()

    # -- the task API -------------------------------------------------------------------------------
    def create_task(self, body: dict[str, Any]) -> str:
        """POST a generation task; returns the provider's task id (`cgt-…`)."""
        response = self._call("POST", TASKS_PATH, "create the task", json=body, idempotent=False)
        task_id = _json(response, "create the task").get("id")
        if not isinstance(task_id, str) or not task_id:
            raise ArkError("the provider accepted the task but returned no task id", http_status=200)
        return task_id

    def get_task(self, task_id: str) -> dict[str, Any]:
        """GET the provider's task object."""
        return _json(self._call("GET", f"{TASKS_PATH}/{task_id}", "report the task"), "report the task")

    def delete_task(self, task_id: str, timeout_s: float = 1.0) -> bool:
        """Cancel a queued task (or delete a finished one's record). One quick attempt, no retries: it runs
        inside the cancellation grace period. True if the provider accepted it."""
        try:
            response = self._api.delete(self._url(f"{TASKS_PATH}/{task_id}"), timeout=timeout_s)
        except httpx.HTTPError as exc:
            log.warning("cancelling upstream task %s failed: %s", task_id, exc)
            return False
        if response.is_success:
            return True
        log.warning("cancelling upstream task %s refused: %s", task_id,
                    error_from_response(response, "cancel the task").message)
        return False

    def download(self, url: str, dest: Path, max_bytes: int = MAX_VIDEO_BYTES) -> int:
        """Stream the generated video to `dest` (no Authorization header: the URL is presigned)."""
        for attempt in range(self.max_retries + 1):
            try:
                return self._download_once(url, dest, max_bytes)
            except ArkError as exc:
                if exc.http_status not in RETRY_STATUSES or attempt == self.max_retries:
                    raise
                self.sleep(self._backoff(attempt, None))
            except httpx.HTTPError as exc:
                if attempt == self.max_retries:
                    raise ArkError(f"downloading the provider's video failed: {exc}") from exc
                self.sleep(self._backoff(attempt, None))
        raise AssertionError("unreachable")

    def _download_once(self, url: str, dest: Path, max_bytes: int) -> int:
        partial = dest.with_name(dest.name + ".part")
        size = 0
        with self._files.stream("GET", url) as response:
            if not response.is_success:
                response.read()
                raise ArkError(f"downloading the provider's video failed (HTTP {response.status_code})",
                               http_status=response.status_code)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ArkError(f"the provider's video is larger than {max_bytes} bytes")
                    out.write(chunk)
        if size == 0:
            raise ArkError("the provider's video is empty")
        partial.replace(dest)
        return size

    # -- plumbing -----------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _backoff(self, attempt: int, hinted_s: float | None) -> float:
        if hinted_s is not None:
            return min(hinted_s, self.backoff_max_s * 4)
        return random.uniform(0, min(self.backoff_max_s, self.backoff_s * 2**attempt))

    def _call(self, method: str, path: str, action: str, *, json: Any = None,
              idempotent: bool = True) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._api.request(method, self._url(path), json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:  # nothing reached the provider: safe to retry even a create
                    raise ArkError(f"could not reach the provider to {action}: {exc}") from exc
                self.sleep(self._backoff(attempt, None))
                continue
            except httpx.HTTPError as exc:
                if last or not idempotent:
                    raise ArkError(f"the provider did not answer the request to {action}: {exc}") from exc
                self.sleep(self._backoff(attempt, None))
                continue
            if response.is_success:
                return response
            if response.status_code not in RETRY_STATUSES or last:
                raise error_from_response(response, action)
            delay = self._backoff(attempt, retry_after_s(response))
            log.info("Ark answered %s to %s %s; retrying in %.2f s", response.status_code, method, path, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")


def _json(response: httpx.Response, action: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ArkError(f"the provider's answer to {action} is not JSON: {response.text[:200]!r}") from exc
    if not isinstance(body, dict):
        raise ArkError(f"the provider's answer to {action} is not a JSON object")
    return body

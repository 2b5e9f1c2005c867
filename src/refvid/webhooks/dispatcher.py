"""Webhook delivery threads: lease due outbox messages, sign them, POST them, record the outcome.

Delivery is at least once (a dispatcher that dies mid-POST loses its lease and the message goes out again,
with the same `webhook-id`, so receivers deduplicate on it). A task's events go out in order: a message
waits while an older one of the same task is still pending. Outcomes:

- 2xx: delivered.
- 410 Gone: the endpoint is disabled for this key: this and every later event to that URL is dropped.
- a target the SSRF policy refuses (private, loopback, metadata address; bad scheme): failed, no retries.
- anything else (other status, timeout, refused connection): retried after the next delay of
  `Settings.webhook_retry_schedule_s` (Standard Webhooks: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h),
  each spread by ±`webhook_retry_jitter`; when the schedule is spent (about 27 h), failed.

Every request goes through `netguard.safe_client` (connect-time address checks, no redirects, no proxies)
with a wall-clock deadline, so a receiver that drips its answer cannot hold a delivery thread for long.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from refvid import __version__
from refvid.config import Settings
from refvid.media.netguard import (
    AddressPolicy,
    ForbiddenDestination,
    _DeadlineStream,
    check_url,
    safe_client,
    system_connector,
)
from refvid.metrics import task_context, webhook_delivery
from refvid.tasks.model import Task
from refvid.tasks.store import SqlStore, task_from_row
from refvid.webhooks.outbox import OutboxStore
from refvid.webhooks.secrets import WebhookSecrets, signature_header

log = logging.getLogger(__name__)
Render = Callable[[Task], dict[str, Any]]
"""Task → the wire task object (as GET /v1/tasks/{id} answers it)."""
PURGE_EVERY_S = 3600.0
KEEP_SETTLED_S = 7 * 86400.0


def retry_delay_s(schedule: Sequence[float], failed_attempts: int, jitter: float,
                  rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures, or None once the schedule is spent."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, schedule[failed_attempts - 1] * (1.0 + spread))


def callback_url_problem(settings: Settings, url: str) -> str | None:
    """Why `url` can never receive webhooks, judged without DNS (submit time): bad scheme, credentials, or
    an IP literal outside the address policy. Host names are checked when each delivery connects."""
    try:
        parsed = httpx.URL(url)
        check_url(parsed)
    except (ForbiddenDestination, httpx.InvalidURL, ValueError) as exc:
        return str(exc)
    try:
        ipaddress.ip_address(parsed.host)
    except ValueError:
        return None
    return AddressPolicy(settings.fetch_allow_hosts).blocked_reason(parsed.host, parsed.host)


def event_body(message: dict[str, Any], data: dict[str, Any]) -> str:
    """`{"type": "video.generation.<status>", "timestamp": ISO-8601 of the change, "data": task object}`."""
    at = datetime.fromtimestamp(float(message["created_at"]), tz=UTC)
    return json.dumps({"type": message["event_type"], "timestamp": at.isoformat().replace("+00:00", "Z"),
                       "data": data}, separators=(",", ":"), ensure_ascii=False)


class WebhookDispatcher:
    """`threads` delivery threads over the shared outbox (every API process may run some)."""

    def __init__(self, settings: Settings, store: SqlStore, render: Render, threads: int | None = None):
        self.settings = settings
        self.outbox = OutboxStore(store)
        self.secrets = WebhookSecrets(self.outbox, settings.webhook_secret_grace_s)
        self._render = render
        self._threads_wanted = settings.webhook_concurrency if threads is None else threads
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_purge = 0.0

    def start(self) -> None:
        for index in range(self._threads_wanted):
            thread = threading.Thread(target=self._run, name=f"refvid-webhooks-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
                if time.monotonic() - self._last_purge > PURGE_EVERY_S:
                    self._last_purge = time.monotonic()
                    self.outbox.purge(time.time() - KEEP_SETTLED_S)
            except Exception:  # the database may be briefly unavailable: try again next round
                log.exception("webhook dispatch round failed")
                worked = False
            if not worked:
                self._stop.wait(self.settings.webhook_poll_s)

    def run_once(self) -> bool:
        """Deliver at most one due message; False when none was due."""
        token, rows = self.outbox.claim_due(limit=1, lease_s=self.settings.webhook_timeout_s + 30.0)
        for message in rows:
            with task_context(str(message["task_id"])):
                self._deliver(token, message)
        return bool(rows)

    def _deliver(self, token: str, message: dict[str, Any]) -> None:
        message_id, owner = str(message["id"]), str(message["owner"])
        if self.outbox.endpoint_disabled(owner, str(message["url_hash"])):
            self.outbox.settle(message_id, token, "disabled", None, "the endpoint answered 410 Gone before")
            webhook_delivery("disabled")
            return
        try:
            status = self._post(message)
        except ForbiddenDestination as exc:
            log.warning("webhook %s: target refused: %s", message_id, exc)
            self.outbox.settle(message_id, token, "failed", None, f"forbidden target: {exc}")
            webhook_delivery("forbidden")
            return
        except Exception as exc:  # network errors and timeouts (httpx.HTTPError), or a rendering bug
            self._failed_attempt(token, message, None, f"{type(exc).__name__}: {exc}")
            return
        if 200 <= status < 300:
            self.outbox.settle(message_id, token, "delivered", status, None)
            webhook_delivery("delivered")
        elif status == 410:
            log.warning("webhook %s: %s answered 410 Gone; disabling it", message_id, message["url"])
            self.outbox.disable_endpoint(owner, str(message["url_hash"]))
            self.outbox.settle(message_id, token, "disabled", status, "410 Gone")
            webhook_delivery("disabled")
        else:
            self._failed_attempt(token, message, status, f"HTTP {status}")

    def _post(self, message: dict[str, Any]) -> int:
        task = task_from_row(json.loads(str(message["task_row"])))
        body = event_body(message, self._render(task))
        now_s = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": f"refvid-webhooks/{__version__}",
            "webhook-id": str(message["id"]),
            "webhook-timestamp": str(now_s),
            "webhook-signature": signature_header(self.secrets.signing_secrets(str(message["owner"])),
                                                  str(message["id"]), now_s, body),
        }
        deadline = time.monotonic() + self.settings.webhook_timeout_s

        def connect(ip: str, port: int, timeout_s: float | None) -> httpcore.NetworkStream:
            return _DeadlineStream(system_connector(ip, port, timeout_s), deadline)

        with (safe_client(self.settings, connector=connect, timeout_s=self.settings.webhook_timeout_s) as client,
              client.stream("POST", str(message["url"]), content=body.encode(), headers=headers) as response):
            return response.status_code  # the answer's body is never read

    def _failed_attempt(self, token: str, message: dict[str, Any], status: int | None, error: str) -> None:
        failed = int(message["attempts"]) + 1
        delay = retry_delay_s(self.settings.webhook_retry_schedule_s, failed, self.settings.webhook_retry_jitter)
        if delay is None:
            log.warning("webhook %s: giving up after %d attempts (%s)", message["id"], failed, error)
            self.outbox.settle(str(message["id"]), token, "failed", status, error)
            webhook_delivery("gave_up")
            return
        log.info("webhook %s: attempt %d failed (%s); next in %.0f s", message["id"], failed, error, delay)
        self.outbox.retry_at(str(message["id"]), token, time.time() + delay, status, error)
        webhook_delivery("retry")

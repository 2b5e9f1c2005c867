"""Webhook delivery: one claimer thread leases due outbox messages, a pool of delivery threads signs and POSTs
them and records the outcome.

Delivery is at least once (a dispatcher that dies mid-POST loses its lease and the message goes out again,
with the same `webhook-id`, so receivers deduplicate on it). Ordering is the outbox's (`OutboxStore.claim_due`):
a newer event of a task supersedes an older one still pending, so an older state never arrives after a newer
one and a newer one is never held back by an older one's retries. Outcomes:

- 2xx: delivered.
- 410 Gone: the endpoint is disabled for this key: this and every later event to that URL is dropped.
- a target the SSRF policy refuses (private, loopback, metadata address; bad scheme): failed, no retries.
- anything else (other status, timeout, refused connection): retried after the next delay of
  `Settings.webhook_retry_schedule_s` (Standard Webhooks: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h),
  each spread by ±`webhook_retry_jitter`; when the schedule is spent (about 27 h), failed.

No head-of-line blocking across receivers or keys: the claimer only leases what free delivery threads can
start at once, and `ReceiverGate` caps each lane (one key's deliveries to one origin) at a quarter of the
threads, rests a lane that keeps failing (circuit breaker), and holds each origin to half the threads, so a
receiver that never answers uses only that key's share and the others' events, even another key's to the
same origin, go out at once. Every request goes through `net.guard.safe_client` (connect-time address checks, no
redirects, no proxies) with a wall-clock deadline, so a receiver that drips its answer cannot hold a thread
for long.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from refvid.config import Settings
from refvid.errors import StoreUnavailable
from refvid.metrics import task_context, webhook_delivery
from refvid.net.guard import (
    ForbiddenDestination,
    safe_client,
)
from refvid.tasks.model import Task
from refvid.tasks.store import OutboxStore, StoreCore, task_from_row
from refvid.version import __version__
from refvid.webhooks.receivers import ReceiverGate, lane_of
from refvid.webhooks.secrets import WebhookSecrets, signature_header

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookEvent:
    """One status change to announce: `type` is `video.generation.<status>`, `timestamp` the ISO-8601 time of
    the change."""

    type: str
    timestamp: str


Render = Callable[[Task, WebhookEvent], dict[str, Any]]
"""Task + event → the JSON body to POST, in the dialect the task was created in (the API knows the shapes:
`standard_body` for FoxAPI's wire, Ark's bare task object for Ark's)."""
PURGE_EVERY_S = 3600.0
KEEP_SETTLED_S = 7 * 86400.0
#: the share of the delivery threads one lane (a key's deliveries to one receiver) may use at once
LANE_SHARE = 4
#: the share all lanes to one receiver may use together (twice a lane's: no single key fills it)
RECEIVER_SHARE = 2


def retry_delay_s(schedule: Sequence[float], failed_attempts: int, jitter: float,
                  rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures, or None once the schedule is spent."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, schedule[failed_attempts - 1] * (1.0 + spread))


def event_of(message: dict[str, Any]) -> WebhookEvent:
    """The event an outbox message announces."""
    at = datetime.fromtimestamp(float(message["created_at"]), tz=UTC)
    return WebhookEvent(str(message["event_type"]), at.isoformat().replace("+00:00", "Z"))


def standard_body(event: WebhookEvent, data: dict[str, Any]) -> dict[str, Any]:
    """`{"type": "video.generation.<status>", "timestamp": ISO-8601 of the change, "data": task object}`."""
    return {"type": event.type, "timestamp": event.timestamp, "data": data}


class WebhookDispatcher:
    """A claimer thread and `threads` delivery threads over the shared outbox (every API process may run
    one); each lane (key, receiver) may use a quarter of the threads (at least one), each receiver half."""

    def __init__(self, settings: Settings, store: StoreCore, render: Render, threads: int | None = None):
        self.settings = settings
        self.outbox = OutboxStore(store)
        self.secrets = WebhookSecrets(store, settings.webhook_secret_grace_s)
        self._render = render
        self._threads_wanted = settings.webhook_concurrency if threads is None else threads
        self.gate = ReceiverGate(cap=self._threads_wanted // LANE_SHARE,
                                 ceiling=self._threads_wanted // RECEIVER_SHARE)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._claimer: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._last_purge = 0.0

    def start(self) -> None:
        if self._threads_wanted < 1:
            return
        self._pool = ThreadPoolExecutor(self._threads_wanted, thread_name_prefix="refvid-webhooks")
        self._claimer = threading.Thread(target=self._run, name="refvid-webhooks-claimer", daemon=True)
        self._claimer.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop claiming; deliveries on the wire finish within their deadline (or go out again later: their
        lease expires)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout_s
        if self._claimer is not None:
            self._claimer.join(timeout_s)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        while self._busy > 0 and time.monotonic() < deadline:  # let quick deliveries record their outcome
            time.sleep(0.02)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
                if time.monotonic() - self._last_purge > PURGE_EVERY_S:
                    self._last_purge = time.monotonic()
                    self.outbox.purge(time.time() - KEEP_SETTLED_S)
                    self.secrets.purge_expired()
            except StoreUnavailable as exc:  # a database outage: quietly try again next round
                log.warning("webhook dispatch: %s", exc)
                worked = False
            except Exception:
                log.exception("webhook dispatch round failed")
                worked = False
            if not worked:
                self._wake.wait(self.settings.webhook_poll_s)
                self._wake.clear()

    def run_once(self) -> bool:
        """Lease as many due messages as free threads and receivers allow and hand them to the delivery
        threads; False when none was leased."""
        with self._busy_lock:
            free = self._threads_wanted - self._busy
        blocked = self.gate.blocked()
        token, rows = self.outbox.claim_due(limit=free, lease_s=self.settings.webhook_timeout_s + 30.0,
                                            choose=self.gate.choose, skip_lanes=blocked.lanes,
                                            skip_receivers=blocked.receivers)
        for message in rows:
            self.gate.started(lane_of(message))
            with self._busy_lock:
                self._busy += 1
            if self._pool is None:  # not started (tests drive run_once by hand): deliver inline
                self._deliver_counted(token, message)
            else:
                self._pool.submit(self._deliver_counted, token, message)
        return bool(rows)

    def _deliver_counted(self, token: str, message: dict[str, Any]) -> None:
        status: int | None = None
        delivered = False
        try:
            with task_context(str(message["task_id"])):
                status, delivered = self._deliver(token, message)
        except StoreUnavailable as exc:  # the outcome could not be recorded: the lease expires, it goes again
            log.warning("webhook %s: %s", message["id"], exc)
        except Exception:
            log.exception("webhook %s: delivery failed unexpectedly", message["id"])
        finally:
            self.gate.finished(lane_of(message), status, delivered)
            with self._busy_lock:
                self._busy -= 1
            self._wake.set()

    def _deliver(self, token: str, message: dict[str, Any]) -> tuple[int | None, bool]:
        """POST one message and record its outcome; returns (HTTP status or None, delivered)."""
        message_id, owner = str(message["id"]), str(message["owner"])
        if self.outbox.endpoint_disabled(owner, str(message["url_hash"])):
            self.outbox.settle(message_id, token, "disabled", None, "the endpoint answered 410 Gone before")
            webhook_delivery("disabled")
            return 410, False
        try:
            status = self._post(message)
        except ForbiddenDestination as exc:
            log.warning("webhook %s: target refused: %s", message_id, exc)
            self.outbox.settle(message_id, token, "failed", None, f"forbidden target: {exc}")
            webhook_delivery("forbidden")
            return 403, False  # not the receiver's fault: it never heard of it
        except StoreUnavailable:
            raise
        except Exception as exc:  # network errors and timeouts (httpx.HTTPError), or a rendering bug
            self._failed_attempt(token, message, None, f"{type(exc).__name__}: {exc}")
            return None, False
        if 200 <= status < 300:
            self.outbox.settle(message_id, token, "delivered", status, None)
            webhook_delivery("delivered")
            return status, True
        if status == 410:
            log.warning("webhook %s: %s answered 410 Gone; disabling it", message_id, message["url"])
            self.outbox.disable_endpoint(owner, str(message["url_hash"]))
            self.outbox.settle(message_id, token, "disabled", status, "410 Gone")
            webhook_delivery("disabled")
            return status, False
        self._failed_attempt(token, message, status, f"HTTP {status}")
        return status, False

    def _post(self, message: dict[str, Any]) -> int:
        task = task_from_row(json.loads(str(message["task_row"])))
        body = json.dumps(self._render(task, event_of(message)), separators=(",", ":"), ensure_ascii=False)
        now_s = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": f"refvid-webhooks/{__version__}",
            "webhook-id": str(message["id"]),
            "webhook-timestamp": str(now_s),
            "webhook-signature": signature_header(self.secrets.signing_secrets(str(message["owner"])),
                                                  str(message["id"]), now_s, body),
        }
        timeout_s = self.settings.webhook_timeout_s
        with (safe_client(self.settings, timeout_s=timeout_s, deadline_s=timeout_s) as client,
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

"""LISTEN/NOTIFY wake-ups for PostgreSQL deployments (the `Waker` protocol of `refvid.tasks.wakeup`).

Every process that shares the database keeps one dedicated connection that `LISTEN`s on the queue
channel; a background thread turns each notification into a generation bump, which wakes the worker
slots blocked in `wait_after`. `notify()` bumps locally at once and sends `NOTIFY` through the store's
pool, so idle workers on other machines claim a new task within milliseconds.

If the listening connection breaks, the thread bumps the generation (waiters re-check the queue, so a
notification lost while disconnected costs nothing) and reconnects with backoff. Sending is best effort:
a failed `NOTIFY` is logged, never raised — the task is already stored, and the workers' safety-net
timeout would find it anyway.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import psycopg

from refvid.tasks.wakeup import _Generation

log = logging.getLogger(__name__)
POLL_S = 0.5  # how often the listener thread checks that it should still run
RECONNECT_MAX_S = 5.0


class PgWaker(_Generation):
    """A `Waker` backed by PostgreSQL LISTEN/NOTIFY on `channel`."""

    def __init__(self, conninfo: str, channel: str, send_notify: Callable[[], None],
                 connect_timeout_s: float = 10.0):
        super().__init__()
        if not channel.isidentifier():
            raise ValueError(f"bad channel name {channel!r}")
        self._conninfo = conninfo
        self._channel = channel
        self._send_notify = send_notify
        self._connect_timeout_s = connect_timeout_s
        self._closed = threading.Event()
        self._listening = threading.Event()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._thread = threading.Thread(target=self._listen_forever, name="refvid-pg-waker", daemon=True)
        self._thread.start()

    def wait_listening(self, timeout_s: float = 10.0) -> bool:
        """Block until the LISTEN is in place (tests; notifications sent earlier are not seen)."""
        return self._listening.wait(timeout_s)

    def notify(self) -> None:
        """Wake this process's waiters now and every other listener through the database."""
        self.bump()
        try:
            self._send_notify()
        except Exception:
            log.warning("NOTIFY %s failed; other nodes will find the change on their next poll",
                        self._channel, exc_info=True)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(POLL_S * 4)
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # -- the listener thread ------------------------------------------------------------------------
    def _listen_forever(self) -> None:
        backoff_s = 0.1
        while not self._closed.is_set():
            try:
                self._listen_once()
                backoff_s = 0.1
            except Exception as exc:
                if self._closed.is_set():
                    return
                log.warning("LISTEN %s connection lost (%s); reconnecting in %.1f s",
                            self._channel, exc, backoff_s)
            finally:
                self._listening.clear()
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            # Anything could have happened while we were not listening: let waiters look.
            self.bump()
            if self._closed.wait(backoff_s):
                return
            backoff_s = min(RECONNECT_MAX_S, backoff_s * 2)

    def _listen_once(self) -> None:
        conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=int(self._connect_timeout_s))
        self._conn = conn
        conn.execute(f"LISTEN {self._channel}")
        self._listening.set()
        self.bump()  # notifications sent before LISTEN took effect are covered by one re-check
        while not self._closed.is_set():
            for _ in conn.notifies(timeout=POLL_S):
                self.bump()

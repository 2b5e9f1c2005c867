"""Wake-ups without polling sleeps.

A `Waker` counts notifications. A worker reads `generation()` before it tries to claim, and if the queue
was empty waits with `wait_after(gen, timeout)`: a task submitted in between is never missed, and an idle
worker reacts in milliseconds. The timeout is only a safety net.

`LocalWaker` serves the embedded default: threads of one process share a condition variable, and other
processes on the same machine (a separate `refvid worker` on the same SQLite file) are reached with a
datagram on a Unix socket per process in `<data_dir>/wake/`. PostgreSQL deployments use LISTEN/NOTIFY.
A Unix socket's path must fit in about 100 bytes (`sun_path`): a data dir deeper than that meets in a short
folder of the temp dir named by a hash of the wake folder instead, the same for every process sharing it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import tempfile
import threading
from pathlib import Path
from typing import Protocol


class Waker(Protocol):
    def generation(self) -> int: ...

    def notify(self) -> None:
        """Wake every waiter, in this process and the others sharing the queue."""
        ...

    def wait_after(self, generation: int, timeout_s: float) -> bool:
        """Block until a notification newer than `generation` (True) or the timeout (False)."""
        ...

    def close(self) -> None: ...


class _Generation:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._gen = 0

    def generation(self) -> int:
        with self._cond:
            return self._gen

    def bump(self) -> None:
        with self._cond:
            self._gen += 1
            self._cond.notify_all()

    def wait_after(self, generation: int, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._gen != generation, timeout=timeout_s)


MAX_SOCKET_PATH_BYTES = 100  # sun_path is 108 bytes on Linux, 104 on macOS; keep a margin
SOCKET_NAME_BYTES = 32  # "<pid>-<8 hex>.sock"


def socket_folder(folder: Path) -> Path:
    """Where the processes sharing `folder` put their sockets: `folder` itself when a socket path in it fits
    `sun_path`, else a short folder in the temp dir named by a hash of `folder`'s absolute path."""
    folder = folder.absolute()
    if len(os.fsencode(folder)) + 1 + SOCKET_NAME_BYTES <= MAX_SOCKET_PATH_BYTES:
        return folder
    digest = hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"refvid-wake-{digest}"


class LocalWaker(_Generation):
    """In-process condition + Unix datagram sockets for the other processes on this machine."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder = socket_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._path = folder / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self._path))
        self._closed = False
        self._thread = threading.Thread(target=self._receive, name="refvid-waker", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed:
            try:
                self._sock.recv(16)
            except OSError:
                return
            self.bump()

    def notify(self) -> None:
        self.bump()
        with os.scandir(self.folder) as entries:  # cheaper than Path.glob on every create
            peers = [entry.path for entry in entries if entry.name.endswith(".sock")]
        for peer in peers:
            if peer == str(self._path):
                continue
            try:  # from our own socket, without waiting: no socket to open and close per peer and create
                self._sock.sendto(b"1", socket.MSG_DONTWAIT, peer)
            except ConnectionRefusedError:
                Path(peer).unlink(missing_ok=True)  # a dead process left its socket behind
            except (BlockingIOError, FileNotFoundError, OSError):
                pass  # its buffer is full (it will wake anyway) or it just went away

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._path.unlink(missing_ok=True)

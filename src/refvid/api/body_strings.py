"""Long string literals of a request body held as bytes, never as one Python `str` (issue 27).

A 60 MiB `data:` URL sent inside a JSON body used to become a 60 MiB `str`: building it (and decoding,
counting or re-encoding it) is one C call that holds the GIL for tens to hundreds of milliseconds, so the
event loop answered nobody meanwhile, however many threads did the work. Now `api/json_body.py` keeps such a
literal where the body arrived, as a byte range of the body (a `HeldString`), and the parsed request carries a
short stand-in in its place: the literal's first PREFIX_CHARS characters (every syntax check on a `data:` URL
looks only at those: `api/schemas.py`) followed by an unguessable marker and the literal's number. The code
that reads the payload (`api/inline_media.py`, `routes/files.py`) asks `held_string` for the bytes; its size is
judged from the length of the range, and it is decoded a slice at a time straight into the file that stores it.

The stand-ins of a request are known only to that request: `read_json_body` records them in a context
variable, which asyncio gives each request's task its own copy of.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from refvid.tasks.service import canonical_body, request_fingerprint

PREFIX_CHARS = 256  # how much of a held literal its stand-in repeats


@dataclass(frozen=True)
class HeldString:
    """A string literal of printable ASCII, free of quotes, backslashes and `%`: `raw[start:end]`, whose
    base64 payload begins at `payload` (after a `data:` URL's comma, else at `start`) and holds `blanks`
    spaces (not data: discounted when its decoded size is judged)."""

    raw: bytes | bytearray
    start: int
    end: int
    payload: int
    blanks: int

    @property
    def data_chars(self) -> int:
        """Characters of base64 data in the payload."""
        return self.end - self.payload - self.blanks


@dataclass
class HeldStrings:
    """One request's held literals by number; the stand-in of number n is the literal's first PREFIX_CHARS
    characters, then `marker`, then n."""

    marker: str
    strings: dict[int, HeldString] = field(default_factory=dict)

    def lookup(self, text: str) -> HeldString | None:
        if len(text) <= PREFIX_CHARS or not text.startswith(self.marker, PREFIX_CHARS):
            return None
        index = text[PREFIX_CHARS + len(self.marker):]
        return self.strings.get(int(index)) if index.isdigit() else None


_HELD: ContextVar[HeldStrings | None] = ContextVar("refvid_held_strings", default=None)


def hold(held: HeldStrings | None) -> None:
    """Make `held` the current request's literals (called by `read_json_body`, on the request's task; always,
    so that no request sees another's where several share a task, as on httpx's ASGITransport)."""
    _HELD.set(held if held is not None and held.strings else None)


def held_string(text: str) -> HeldString | None:
    """The literal `text` stands in for, if it is a stand-in of the current request's body."""
    held = _HELD.get()
    return held.lookup(text) if held is not None else None


async def body_fingerprint(body: Any) -> str:
    """`request_fingerprint` of the body as sent, each stand-in counted as the literal it stands for (so a
    retried request matches its first try). With literals held, on a thread: they are hashed where they lie,
    by hashlib, which lets go of the GIL while it hashes, but the thread waiting on it is busy meanwhile."""
    held = _HELD.get()
    if held is None:
        return request_fingerprint(body)
    return await asyncio.get_running_loop().run_in_executor(None, _fingerprint, body, held)


def _fingerprint(body: Any, held: HeldStrings) -> str:
    text = canonical_body(body)
    digest, pos = hashlib.sha256(), 0
    escaped_marker = re.escape(canonical_body(held.marker)[1:-1])  # JSON text escapes the marker's NUL
    for match in re.finditer(escaped_marker + r"(\d+)", text):
        digest.update(text[pos:match.start()].encode())  # ends with the stand-in's prefix
        one = held.strings[int(match.group(1))]
        with memoryview(one.raw) as view:
            digest.update(view[one.start + PREFIX_CHARS:one.end])
        pos = match.end()
    digest.update(text[pos:].encode())
    return digest.hexdigest()

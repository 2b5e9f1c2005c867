"""Parsing request bodies as JSON without stalling the server or overflowing its stack.

Two hazards, both found by probing `refvid serve` (issue 14):

- **Depth.** `json.loads` recurses once per nesting level: 10,000 levels raised RecursionError and answered
  500 with 15 KB of traceback. Bodies are refused past MAX_JSON_DEPTH, measured without recursion.
- **Size.** Every CPU-bound C call holds the GIL for as long as it runs, however many threads there are:
  `json.loads` of a 60 MiB base64 upload is one such call of a few hundred milliseconds, during which the
  event loop answers nobody. `parse_json` therefore lifts each long string literal out of a big body with
  `bytes.find` (memchr-fast), parses the small remainder, and puts the strings back, so no single call
  works on the whole body. (A lifted string is not checked for raw control characters, which strict JSON
  forbids; it is data, a base64 payload, and is judged by whoever reads it.)
"""

from __future__ import annotations

import json
import secrets
from typing import Any

MAX_JSON_DEPTH = 32  # the deepest wire request nests 4 levels
LONG_STRING_BYTES = 64 * 1024  # string literals at least this long are lifted out of the body
MAX_LITERALS = 10_000  # string literals looked at before handing the body to json.loads as it is
DECODE_SLICE_BYTES = 1024 * 1024  # a long literal is decoded this much at a time
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


class TooDeep(ValueError):
    """The body nests arrays and objects deeper than MAX_JSON_DEPTH."""


def parse_json(raw: bytes | bytearray) -> Any:
    """`json.loads(raw)`, in pieces for big bodies; TooDeep past MAX_JSON_DEPTH, ValueError if not JSON."""
    try:
        if len(raw) < 4 * LONG_STRING_BYTES:
            value = json.loads(raw)
        else:
            marker = f"\x00refvid-{secrets.token_hex(8)}-"  # unguessable: no client string can pose as one
            small, strings = _lift_long_strings(raw, marker)
            value = _restore(json.loads(small), strings, marker)
    except RecursionError as exc:
        raise TooDeep(f"request body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    if json_depth(value) > MAX_JSON_DEPTH:
        raise TooDeep(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def json_depth(value: Any) -> int:
    """How deeply `value` nests objects and arrays, measured without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _lift_long_strings(raw: bytes | bytearray, marker: str) -> tuple[bytes, list[str]]:
    """`raw` with each long, escape-free string literal replaced by a numbered placeholder, and the strings.
    Anything unusual (an unterminated string, escapes, bad UTF-8) is left in place for json.loads to judge,
    and a body of very many strings is handed over whole (walking it here would cost more than parsing it)."""
    pieces: list[bytes] = []
    strings: list[str] = []
    pos = 0
    for _ in range(MAX_LITERALS):
        start = raw.find(b'"', pos)
        end = _closing_quote(raw, start) if start >= 0 else -1
        if end < 0:
            break
        if end - start > LONG_STRING_BYTES and raw.find(b"\\", start, end) < 0:
            try:
                text = _decode(raw, start + 1, end)
            except UnicodeDecodeError:
                text = None
            if text is not None:
                pieces += [bytes(raw[pos:start]), json.dumps(f"{marker}{len(strings)}").encode()]
                strings.append(text)
                pos = end + 1
                continue
        pieces.append(bytes(raw[pos:end + 1]))
        pos = end + 1
    else:
        return bytes(raw), []
    pieces.append(bytes(raw[pos:]))
    return b"".join(pieces), strings


def _decode(raw: bytes | bytearray, start: int, end: int) -> str:
    """`raw[start:end]` as UTF-8, decoded in place (no copy first) a slice at a time: one call decoding 60 MiB
    held the GIL, and so the event loop, for a third of a second on a loaded machine."""
    view, pieces = memoryview(raw), []
    while start < end:
        stop = min(end, start + DECODE_SLICE_BYTES)
        while stop < end and raw[stop] & 0xC0 == 0x80:  # never split a UTF-8 sequence
            stop -= 1
        pieces.append(str(view[start:stop], "utf-8"))
        start = stop
    return "".join(pieces)


def _closing_quote(raw: bytes | bytearray, start: int) -> int:
    """The index of the quote that closes the string literal opening at `start`, or -1."""
    end = start
    while (end := raw.find(b'"', end + 1)) >= 0:
        backslashes = 0
        while raw[end - 1 - backslashes] == _BACKSLASH:
            backslashes += 1
        if backslashes % 2 == 0:
            return end
    return -1


def _restore(value: Any, strings: list[str], marker: str) -> Any:
    """Put the lifted strings back in place of their placeholders (iteratively: depth is not yet checked)."""
    if not strings:
        return value

    def original(item: Any) -> Any:
        if isinstance(item, str) and item.startswith(marker):
            index = item[len(marker):]
            if index.isdigit() and int(index) < len(strings):
                return strings[int(index)]
        return item

    value = original(value)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            restored = {original(key): original(child) for key, child in item.items()}
            item.clear()
            item.update(restored)
            stack.extend(child for child in item.values() if isinstance(child, dict | list))
        elif isinstance(item, list):
            item[:] = [original(child) for child in item]
            stack.extend(child for child in item if isinstance(child, dict | list))
    return value

"""Parsing request bodies as JSON without stalling the server or overflowing its stack.

Two hazards, both found by probing `refvid serve` (issue 14, issue 27):

- **Depth.** `json.loads` recurses once per nesting level: 10,000 levels raised RecursionError and answered
  500 with 15 KB of traceback. Bodies are refused past MAX_JSON_DEPTH, measured without recursion.
- **Size.** Every CPU-bound C call holds the GIL for as long as it runs, however many threads there are:
  `json.loads` of a 60 MiB base64 upload is one such call of a few hundred milliseconds, during which the
  event loop answers nobody; so is building, copying or scanning a 60 MiB `str`. `parse_json` therefore finds
  each long string literal of a big body with `find` calls that each look at SCAN_BYTES at most, lifts it out,
  parses the small remainder, and puts the strings back. A literal of ASCII under one of the keys a
  route names (`keep`: where it reads `data:` URLs or base64) is not put back as a `str` at all: it stays a
  byte range of the body (`api/body_strings.py`), judged and decoded by whoever reads it. (A lifted string is
  not checked for raw control characters past its first PREFIX_CHARS, which strict JSON forbids; it is data,
  a base64 payload, and is judged by whoever reads it.)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from refvid.api.body_strings import PREFIX_CHARS, HeldString, HeldStrings

MAX_JSON_DEPTH = 32  # the deepest wire request nests 4 levels
LONG_STRING_BYTES = 64 * 1024  # string literals at least this long are lifted out of the body
MAX_LITERALS = 10_000  # string literals looked at before handing the body to json.loads as it is
SCAN_BYTES = 1024 * 1024  # no find, check or decode call looks at more of a body than this at once
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_HOLDABLE = bytes(byte for byte in range(0x20, 0x7F) if byte not in b'"\\%')  # JSON text as it is, no escapes
_BLANKS = (b" ", b"\t", b"\r", b"\n")  # not base64 data (as `api/uploads.encoded_size_over` counts them)
_Lifted = tuple[HeldString, bool | None] | str  # (bytes, a data: URL or base64?: None if neither) or decoded


class TooDeep(ValueError):
    """The body nests arrays and objects deeper than MAX_JSON_DEPTH."""


def parse_json(raw: bytes | bytearray) -> Any:
    """`json.loads(raw)`, in pieces for big bodies; TooDeep past MAX_JSON_DEPTH, ValueError if not JSON."""
    return parse_json_holding(raw, {})[0]


def parse_json_holding(raw: bytes | bytearray, keep: Mapping[str, bool]) -> tuple[Any, HeldStrings | None]:
    """`parse_json`, but a long `data:` URL found as (or in a list that is) the value of a key in `keep` stays
    a byte range of `raw`: the value holds its stand-in, and the HeldStrings its bytes. Where `keep[key]` is
    true, a long base64 text that is not a `data:` URL stays bytes too."""
    held = None
    try:
        if len(raw) < 4 * LONG_STRING_BYTES:
            value = json.loads(raw)
        else:
            held = HeldStrings(f"\x00refvid-{secrets.token_hex(8)}-")  # unguessable: no client string poses as one
            small, lifted = _lift_long_strings(raw, held.marker)
            value = _restore(json.loads(small), lifted, held, keep)
    except RecursionError as exc:
        raise TooDeep(f"request body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    if json_depth(value) > MAX_JSON_DEPTH:
        raise TooDeep(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    return value, held


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


def _lift_long_strings(raw: bytes | bytearray, marker: str) -> tuple[bytes | bytearray, list[_Lifted]]:
    """`raw` with each long, escape-free string literal replaced by a numbered placeholder (its first
    PREFIX_CHARS characters, if it is printable ASCII, then `marker` and its number), and the strings: byte
    ranges where printable ASCII, else decoded. Anything unusual (an unterminated string, escapes, bad UTF-8)
    is left in place for json.loads to judge, and a body of very many strings is handed over whole (walking
    it here would cost more than parsing it)."""
    pieces: list[bytes] = []
    lifted: list[_Lifted] = []
    escaped_marker = json.dumps(marker)[1:-1].encode()
    pos = 0
    for _ in range(MAX_LITERALS):
        start = _find(raw, b'"', pos, len(raw))
        end = _closing_quote(raw, start) if start >= 0 else -1
        if end < 0:
            break
        if end - start > LONG_STRING_BYTES and _find(raw, b"\\", start, end) < 0:
            one = _holdable(raw, start + 1, end) or _decode(raw, start + 1, end)
            if one is not None:
                prefix = b"" if isinstance(one, str) else bytes(raw[start + 1:start + 1 + PREFIX_CHARS])
                pieces += [bytes(raw[pos:start]), b'"%s%s%d"' % (prefix, escaped_marker, len(lifted))]
                lifted.append(one)
                pos = end + 1
                continue
        pieces.append(bytes(raw[pos:end + 1]))
        pos = end + 1
    else:
        return raw, []
    pieces.append(bytes(raw[pos:]))
    return b"".join(pieces), lifted


def _find(raw: bytes | bytearray, byte: bytes, start: int, stop: int) -> int:
    """`raw.find(byte, start, stop)` SCAN_BYTES at a time, so the event loop gets the GIL between calls."""
    while start < stop:
        found = raw.find(byte, start, min(stop, start + SCAN_BYTES))
        if found >= 0:
            return found
        start += SCAN_BYTES
    return -1


def _holdable(raw: bytes | bytearray, start: int, end: int) -> tuple[HeldString, bool | None] | None:
    """`raw[start:end]` as a HeldString if it is ASCII without `%` (text that needs no decoding) and its first
    PREFIX_CHARS characters, which its stand-in repeats, are printable; with whether it is a `data:` URL
    (True: its payload begins after a comma within those characters) or may be bare base64 (False), None for
    a `data:` URL with no comma there. Each check is a memchr-fast call on one slice at a time."""
    head = bytes(raw[start:start + PREFIX_CHARS])
    if head.translate(None, _HOLDABLE):
        return None
    blanks = 0
    for offset in range(start, end, SCAN_BYTES):
        stop = min(end, offset + SCAN_BYTES)
        if not raw[offset:stop].isascii() or raw.find(b"%", offset, stop) >= 0:
            return None
        blanks += sum(raw.count(blank, offset, stop) for blank in _BLANKS if raw.find(blank, offset, stop) >= 0)
    if head[:5].lower() != b"data:":
        return HeldString(raw, start, end, start, blanks), False
    comma = head.find(b",")
    held = HeldString(raw, start, end, start + comma + 1, blanks - head[:comma + 1].count(b" "))
    return held, (True if comma >= 0 else None)


def _decode(raw: bytes | bytearray, start: int, end: int) -> str | None:
    """`raw[start:end]` as UTF-8 (None if it is not), decoded in place (no copy first) a slice at a time:
    one call decoding 60 MiB held the GIL, and so the event loop, for a third of a second on a loaded
    machine."""
    view, pieces = memoryview(raw), []
    while start < end:
        stop = min(end, start + SCAN_BYTES)
        while stop < end and raw[stop] & 0xC0 == 0x80:  # never split a UTF-8 sequence
            stop -= 1
        try:
            pieces.append(str(view[start:stop], "utf-8"))
        except UnicodeDecodeError:
            return None
        start = stop
    return "".join(pieces)


def _closing_quote(raw: bytes | bytearray, start: int) -> int:
    """The index of the quote that closes the string literal opening at `start`, or -1."""
    end = start
    while (end := _find(raw, b'"', end + 1, len(raw))) >= 0:
        backslashes = 0
        while raw[end - 1 - backslashes] == _BACKSLASH:
            backslashes += 1
        if backslashes % 2 == 0:
            return end
    return -1


def _restore(value: Any, lifted: list[_Lifted], held: HeldStrings, keep: Mapping[str, bool]) -> Any:
    """Put the lifted strings back in place of their placeholders (iteratively: depth is not yet checked),
    except the byte ranges `keep` lets stand (see `parse_json_holding`): those join `held`."""
    if not lifted:
        return value
    marker = held.marker

    def original(item: Any, key: str | None) -> Any:
        if not isinstance(item, str):
            return item
        at = 0 if item.startswith(marker) else PREFIX_CHARS if item.startswith(marker, PREFIX_CHARS) else -1
        index = item[at + len(marker):] if at >= 0 else ""
        if not index.isdigit() or int(index) >= len(lifted):
            return item
        one = lifted[int(index)]
        if isinstance(one, str):
            return one
        text, is_data_url = one
        if key is not None and key in keep and (is_data_url or (is_data_url is False and keep[key])):
            held.strings[int(index)] = text
            return item
        return _decode(text.raw, text.start, text.end)

    value = original(value, None)
    stack: list[tuple[Any, str | None]] = [(value, None)]
    while stack:
        item, key = stack.pop()
        if isinstance(item, dict):
            restored = {original(name, None): child for name, child in item.items()}
            item.clear()
            item.update({name: original(child, name) for name, child in restored.items()})
            stack.extend((child, name) for name, child in item.items() if isinstance(child, dict | list))
        elif isinstance(item, list):
            item[:] = [original(child, key) for child in item]
            stack.extend((child, key) for child in item if isinstance(child, dict | list))
    return value

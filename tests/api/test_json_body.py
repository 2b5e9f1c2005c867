"""Request bodies parsed as JSON: depth limits without recursion, and big bodies parsed in pieces with the
same result as `json.loads` (issue 14)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from refvid.api.json_body import LONG_STRING_BYTES, MAX_JSON_DEPTH, TooDeep, json_depth, parse_json

LONG = "QUJD" * LONG_STRING_BYTES


@pytest.mark.parametrize("value", [
    {"file_data": LONG, "file_name": "a.png"},
    {"a": [LONG, {"b": LONG + "x"}], LONG: 1, "c": "short", "d": None, "e": [1.5, True]},
    [LONG, LONG],
    {"quote": 'x"y' * LONG_STRING_BYTES, "unicode": "雨" * LONG_STRING_BYTES, "pad": " " * LONG_STRING_BYTES},
    {"placeholder-like": "\x00refvid-long-string-0", "long": LONG},
    {"decoded a slice at a time, never splitting a character": "雨" * 800_000 + "晴é" * 300_000},
])
def test_big_bodies_parse_as_json_loads_would(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    assert len(raw) >= 4 * LONG_STRING_BYTES
    assert parse_json(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [b'{"a": "' + b"x" * 300_000, b'{"a": "' + b"\xff" * 300_000 + b'"}',
                                 b'{"a": ' + b"1" * 300_000 + b"x}", b"[" * 300_000])
def test_broken_big_bodies_are_value_errors(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_json(raw)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 900, 10_000, 100_000])
def test_deep_nesting_is_too_deep(depth: int) -> None:
    with pytest.raises(TooDeep):
        parse_json(("[" * depth + "]" * depth).encode())


def test_nesting_up_to_the_limit_is_fine() -> None:
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(parse_json(nested.encode())) == MAX_JSON_DEPTH

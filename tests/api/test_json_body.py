"""Request bodies parsed as JSON: depth limits without recursion, big bodies parsed in pieces with the
same result as `json.loads` (issue 14), and long `data:` URLs held as bytes (issue 27)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from refvid.api.body_strings import PREFIX_CHARS, body_fingerprint, hold
from refvid.api.json_body import LONG_STRING_BYTES, MAX_JSON_DEPTH, TooDeep, json_depth, parse_json, parse_json_holding
from refvid.tasks.service import request_fingerprint

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


DATA_URL = "data:image/png;base64," + "QUJD" * LONG_STRING_BYTES
KEEP = {"image_urls": False, "url": False, "file_data": True}


def test_long_data_urls_under_kept_keys_stay_bytes_and_the_rest_parses_as_json_loads_would() -> None:
    body: dict[str, Any] = {
        "image_urls": [DATA_URL, "https://a.example/x.png"], "content": [{"url": DATA_URL + "QQ=="}],
        "prompt": DATA_URL, "file_data": "QUJD" * LONG_STRING_BYTES, "odd": ["data:x/y;base64,%41" + DATA_URL]}
    raw = json.dumps(body).encode()
    value, held = parse_json_holding(raw, KEEP)
    assert held is not None and len(held.strings) == 3
    for stand_in, original in ((value["image_urls"][0], DATA_URL), (value["content"][0]["url"], DATA_URL + "QQ=="),
                               (value["file_data"], body["file_data"])):
        one = held.lookup(stand_in)
        assert one is not None and len(stand_in) < 400 and stand_in[:PREFIX_CHARS] == original[:PREFIX_CHARS]
        assert bytes(one.raw[one.start:one.end]).decode() == original
        assert one.payload - one.start == (original.find(",") + 1 if original.startswith("data:") else 0)
    assert value["prompt"] == DATA_URL and value["odd"] == body["odd"]  # not a kept key; `%`: not held
    assert value["image_urls"][1] == "https://a.example/x.png"


def test_a_held_body_has_the_fingerprint_of_the_body_as_sent() -> None:
    body = {"image_urls": [DATA_URL, DATA_URL[:-4]], "model": "m", "prompt": "@Image1"}
    value, held = parse_json_holding(json.dumps(body, indent=1).encode(), KEEP)
    assert held is not None and len(held.strings) == 2

    async def fingerprint() -> str:
        hold(held)
        return await body_fingerprint(value)

    assert asyncio.run(fingerprint()) == request_fingerprint(body)

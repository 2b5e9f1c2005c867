"""docs/api.md states the wire for users; refvid.contract states it for the code. They must not drift: each
fact the page states is read back from the page and compared with the contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from refvid import catalog, contract

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def field_rule(doc: str, field: str) -> tuple[str, str]:
    """(default, rule) of one row of the §3 request-field table."""
    match = re.search(rf"^\| {re.escape(field)}\b[^|]* \| [^|]+ \| ([^|]+) \| (.+) \|$", doc, re.MULTILINE)
    assert match, f"no row for {field} in docs/api.md"
    return match.group(1).strip(), match.group(2).strip()


def test_pixel_size_table_is_the_contracts(doc: str) -> None:
    header = re.search(r"^\| \| ([\d: |]+)$", doc, re.MULTILINE)
    assert header, "pixel-size table header not found"
    ratios = tuple(cell.strip() for cell in header.group(1).split("|") if cell.strip())
    assert ratios == contract.RATIOS
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for row in re.finditer(r"^\| (\d+p) \| (.+) \|$", doc, re.MULTILINE):
        sizes = [tuple(int(n) for n in cell.strip().split("×")) for cell in row.group(2).split("|")]
        table[row.group(1)] = {ratio: (size[0], size[1]) for ratio, size in zip(ratios, sizes, strict=True)}
    assert table == contract.SIZES
    assert tuple(table) == contract.RESOLUTIONS


def test_model_ids_and_tiers(doc: str) -> None:
    line = next(line for line in doc.splitlines() if line.startswith("Models:"))
    stated = dict(re.findall(r"`([\w.-]+)` \((standard|fast|mini)\)", line))
    assert stated == {model.id: model.tier for model in catalog.BUILT_IN}
    assert contract.DEFAULT_MODEL in stated


def test_request_fields(doc: str) -> None:
    default, rule = field_rule(doc, "resolution")
    assert default == f"`{contract.DEFAULT_RESOLUTION}`"
    standard_only = sorted(r for r in contract.RESOLUTIONS if any(r not in m.resolutions for m in catalog.BUILT_IN))
    everywhere = [r for r in contract.RESOLUTIONS if r not in standard_only]
    assert re.findall(r"`(\d+p)`", rule) == everywhere + standard_only
    default, rule = field_rule(doc, "ratio")
    assert default == f"`{contract.ADAPTIVE}`"
    assert tuple(re.findall(r"`([\w:]+)`", rule)) == (*contract.RATIOS, contract.ADAPTIVE)
    default, rule = field_rule(doc, "duration")
    assert default == f"`{contract.DEFAULT_DURATION_S}`"
    auto = f"`{contract.AUTO_DURATION}` = engine decides"
    assert rule == f"{contract.MIN_DURATION_S}–{contract.MAX_DURATION_S}, or {auto}"
    default, rule = field_rule(doc, "seed")
    assert default == f"`{contract.RANDOM_SEED}`" and f"0–{contract.MAX_SEED}" in rule
    assert f"1–{contract.MAX_PROMPT_CHARS} characters" in field_rule(doc, "prompt")[1]


def mb(n_bytes: int) -> str:
    assert n_bytes % contract.MB == 0
    return f"{n_bytes // contract.MB} MB"


def test_reference_limits(doc: str) -> None:
    rules = {kind: field_rule(doc, field)[1] for kind, field in contract.URL_FIELDS.items()}
    for kind, rule in rules.items():
        assert rule.startswith(f"≤{contract.MAX_COUNT[kind]};"), (kind, rule)
    assert f"each ≤{mb(contract.IMAGE_MAX_BYTES)}" in rules["image"]
    assert f"each side {contract.IMAGE_MIN_SIDE_PX}–{contract.IMAGE_MAX_SIDE_PX} px" in rules["image"]
    assert f"[{contract.IMAGE_MIN_ASPECT}, {contract.IMAGE_MAX_ASPECT}]" in rules["image"]
    assert f"`@Image1..@Image{contract.MAX_COUNT['image']}`" in rules["image"]
    assert f"each ≥{contract.VIDEO_MIN_S:g} s" in rules["video"]
    assert f"total duration {contract.VIDEO_TOTAL_MIN_S:g}–{contract.VIDEO_TOTAL_MAX_S:g} s" in rules["video"]
    assert f"total size <{mb(contract.VIDEO_TOTAL_MAX_BYTES)}" in rules["video"]
    assert f"each ≤{contract.AUDIO_MAX_S:g} s and ≤{mb(contract.AUDIO_MAX_BYTES)}" in rules["audio"]
    assert f"at most {contract.MAX_TOTAL_REFERENCES}\nreferences in total" in doc \
        or f"at most {contract.MAX_TOTAL_REFERENCES} references in total" in doc


def hours(seconds: int) -> str:
    assert seconds % 3600 == 0
    return f"{seconds // 3600} h"


def test_output_and_lifetimes(doc: str) -> None:
    assert f"{contract.FPS} fps" in doc and f"`duration × {contract.FPS}` frames" in doc
    assert f"Uploads live {hours(contract.UPLOAD_TTL_S)}" in doc
    assert f"expire {hours(contract.RESULT_TTL_S)} after completion" in doc
    assert f"same body within {hours(contract.IDEMPOTENCY_TTL_S)}" in doc


def test_mention_words(doc: str) -> None:
    section = doc[doc.index("### 3.1 Mentions"):doc.index("## 4.")]
    stated: dict[str, str] = {}
    for words, kind in re.findall(r"^\| (.+) \| `(\w+)_urls\[N-1\]` \|$", section, re.MULTILINE):
        stated.update({word.lower(): kind for word in re.findall(r"`([^`]+)`", words)})
    assert stated == contract.MENTION_WORDS
    assert "`@Image 2`" in section and "No space before the number" in section


def test_size_units_are_stated_once_and_used(doc: str) -> None:
    """docs/api.md says what MB and MiB mean, and its example is what the contract's formatting gives."""
    assert contract.MB == 10**6 and contract.MIB == 2**20
    assert "MB means 10^6 bytes and MiB 2^20 bytes" in doc
    assert contract.UPLOAD_MAX_BYTES < 52_000_044  # the example: it must not pass the "50 MB" limit
    example = f'a 52,000,044-byte file is "{contract.format_mb(52_000_044)}", over the {mb(contract.UPLOAD_MAX_BYTES)}'
    assert example in " ".join(doc.split())
    assert contract.size_over(52_000_044, contract.UPLOAD_MAX_BYTES) == "52 MB, over the 50 MB limit"
    assert contract.size_over(50_000_001, contract.UPLOAD_MAX_BYTES) == "50,000,001 bytes, over the 50 MB limit"

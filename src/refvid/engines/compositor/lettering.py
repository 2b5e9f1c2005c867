"""Setting the prompt's words for the text-to-video title card: a font that needs no network, wrapping, and
no tofu.

The typeface is the one Pillow bundles (Aileron Regular, scalable since Pillow 10.1: `load_default(size=…)`),
so the card looks the same on every server. It covers basic Latin only: accented letters are folded to their
base letter (é → e) and typographic punctuation to its plain form (— → -) before anything is dropped. Scripts it
lacks (Chinese, Cyrillic, …) are set in the first font of `FALLBACK_FONTS` found on the machine that covers
the whole prompt (Noto CJK, WenQuanYi, Droid Sans Fallback, DejaVu Sans); with none, the characters no font
can draw are left out (never drawn as boxes) and the card says so in its caption.

A glyph is missing when the font draws it exactly as its `.notdef` box (what it draws for U+10FFFD).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Font = ImageFont.FreeTypeFont
FALLBACK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
_PLAIN = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "，": ", ",
                        "。": ". ", "！": "! ", "？": "? ", "：": ": ", "；": "; ", "（": " (", "）": ") ", "·": "-"})
# A CJK character (or fullwidth form) is a word of its own when wrapping: those scripts have no spaces.
_TOKENS = re.compile(r"\s+|[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uac00-\ud7af"
                     r"\uf900-\ufaff\uff00-\uffef]+")
MAX_LINES = 4
MAX_CHARS = 600  # more than four lines hold at the smallest size in any ratio: the rest is never measured
LINE_SPACING = 1.25


@cache
def _font(path: str, size: int) -> Font:
    font = ImageFont.load_default(size=size) if not path else ImageFont.truetype(path, size)
    if not isinstance(font, Font):  # Pillow without FreeType falls back to a fixed-size bitmap font
        raise RuntimeError("the title card needs Pillow built with FreeType")
    return font


def font_name(font: Font) -> str:
    """"Family Style" of a font, e.g. "Aileron Regular"."""
    return " ".join(part for part in font.getname() if part)


def _mask(font: Font, text: str) -> bytes:
    mask = font.getmask(text)
    return bytes(mask) + bytes(str(mask.size), "ascii")


@cache
def _covers(path: str, char: str) -> bool:
    font = _font(path, 32)
    return char.isspace() or _mask(font, char) != _mask(font, "\U0010fffd")


def _fold(text: str) -> str:
    """Accents and typographic punctuation in the plain forms basic Latin fonts have."""
    plain = unicodedata.normalize("NFKD", text.translate(_PLAIN))
    return "".join(c for c in plain if not unicodedata.combining(c))


@dataclass(frozen=True)
class Setting:
    """The words as they will be drawn: the text (what could be drawn of it), the font file ("" = Pillow's
    own) and how many characters no font here could draw."""

    text: str
    font_path: str
    missing: int

    @property
    def font_name(self) -> str:
        return font_name(_font(self.font_path, 32))


def choose_setting(prompt: str) -> Setting:
    """The font and text for `prompt` (see the module docstring)."""
    words = " ".join(prompt.split())
    if all(_covers("", c) for c in words):
        return Setting(words, "", 0)
    folded = " ".join(_fold(words).split())
    if all(_covers("", c) for c in folded):
        return Setting(folded, "", 0)
    for path in FALLBACK_FONTS:
        if Path(path).is_file() and all(_covers(path, c) for c in words):
            return Setting(words, path, 0)
    kept = [c for c in folded if _covers("", c)]
    return Setting(" ".join("".join(kept).split()), "", len(folded) - len(kept))


def _pieces(token: str, font: Font, max_width: float) -> list[str]:
    """`token` cut into pieces no wider than `max_width` (a word longer than a line breaks between letters)."""
    pieces = [""]
    for char in token:
        if pieces[-1] and font.getlength(pieces[-1] + char) > max_width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def wrap(text: str, font: Font, max_width: float) -> list[str]:
    """Greedy lines no wider than `max_width`, broken at spaces or between CJK characters."""
    lines: list[str] = []
    line = ""
    for token in _TOKENS.findall(text):
        if token.isspace():
            line += " " if line else ""
            continue
        for piece in _pieces(token, font, max_width):
            if line.strip() and font.getlength(line + piece) > max_width:
                lines.append(line.rstrip())
                line = ""
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


def fit_lines(text: str, font_path: str, width: int, height: int,
              max_lines: int = MAX_LINES) -> tuple[list[str], Font]:
    """The largest size (from 1/11 down to 1/22 of `height`) at which `text` fits in `max_lines` lines of 80 %
    of `width`; at the smallest, the last line ends in "..." if it still does not (a
    prompt is set from its first `MAX_CHARS` characters: 5000 would take long to measure for nothing)."""
    cut = len(text) > MAX_CHARS
    text = text[:MAX_CHARS]
    size = max(10, round(height / 11))
    smallest = max(10, round(height / 22))
    while True:
        font = _font(font_path, size)
        lines = wrap(text, font, 0.8 * width)
        if len(lines) <= max_lines or size <= smallest:
            break
        size = max(smallest, round(size * 0.88))
    if lines and (len(lines) > max_lines or cut):
        last = lines[min(len(lines), max_lines) - 1]
        while last and font.getlength(last + "...") > 0.8 * width:
            last = last[:-1]
        lines = [*lines[:min(len(lines), max_lines) - 1], last.rstrip() + "..."]
    return lines, font


def block_height(lines: list[str], font: Font) -> float:
    """From the first line's centre to the last one's, plus one font size."""
    return font.size * (LINE_SPACING * (len(lines) - 1) + 1)


def draw_lines(lines: list[str], font: Font, width: int, height: int, centre_y: float) -> np.ndarray:
    """An H×W float32 coverage mask (0–1) of `lines` centred on the frame's width, the block centred on
    `centre_y`."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    step = font.size * LINE_SPACING
    top = centre_y - step * (len(lines) - 1) / 2
    for k, line in enumerate(lines):
        draw.text((width / 2, top + k * step), line, fill=255, font=font, anchor="mm")
    return np.asarray(canvas, np.float32) / 255.0

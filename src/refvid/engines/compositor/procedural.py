"""Text-to-video on the compositor: an honest title card. The compositor generates no pictures, so instead of
pretending (abstract shapes read as a broken generator) it sets the prompt's words in a clean typeface
(`lettering`) over a graded, slowly moving background, with a small caption that says what this is, and the
seeded ambience as its soundtrack. The task says so too (`placeholder`, `made`).

What the words choose (English and Chinese): the backdrop's hues (sunset, ocean, forest, fire, desert, snow,
neon, space… else hues drawn from the prompt's digest), its light (night/dark vs. day/bright), the backdrop's
drift (the camera words of `prompt_reader`, else a seeded slow push) and its pace; the clip's grade words
(`warm`, `mono`, `neon`…) grade the card as they grade footage. The words fade in over the first half second
and then hold still, white over a soft shadow, centred. Everything is drawn from a generator seeded by (seed,
prompt digest): the same request and seed give the same frames.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
from collections.abc import Callable

import cv2
import numpy as np

from refvid.engines.base import EngineInput, EngineOutput
from refvid.engines.compositor.clip import write_clip
from refvid.engines.compositor.grade import Grade
from refvid.engines.compositor.lettering import block_height, choose_setting, draw_lines, fit_lines, font_name
from refvid.engines.compositor.moves import PACE_FACTORS, SPEED_FACTORS, default_move, word_move
from refvid.engines.compositor.prompt_reader import read_prompt
from refvid.media.encode import EncoderSettings

# word pattern → (hue of the top of the backdrop 0–1, hue of its glow 0–1)
PALETTES: tuple[tuple[re.Pattern[str], tuple[float, float]], ...] = tuple(
    (re.compile(words, re.IGNORECASE), hues) for words, hues in (
        (r"sunset|sunrise|dusk|dawn|golden|日落|夕阳|黄昏|日出", (0.07, 0.95)),
        (r"ocean|sea|beach|wave|water|rain|lake|river|海|雨|湖|水", (0.58, 0.52)),
        (r"forest|jungle|grass|meadow|garden|tree|森林|草|树|花园", (0.33, 0.28)),
        (r"fire|flame|lava|volcano|火|熔岩", (0.02, 0.0)),
        (r"desert|sand|dune|沙漠|沙", (0.11, 0.08)),
        (r"snow|ice|winter|frost|雪|冰|冬", (0.55, 0.6)),
        (r"neon|cyberpunk|city|street|霓虹|城市|街", (0.85, 0.5)),
        (r"space|galaxy|star|cosmos|星空|宇宙|银河", (0.72, 0.66)),
    ))
NIGHT = re.compile(r"night|dark|midnight|moon|夜|黑暗|月", re.IGNORECASE)
BRIGHT = re.compile(r"bright|sunny|day|noon|morning|白天|阳光|明亮|早晨", re.IGNORECASE)
RENDER_DIVISOR = 8  # the backdrop (smooth by design) is drawn at an eighth of the output size, then smoothly enlarged
TEXT_LUMA = 242.0  # the words: near white; the backdrop stays below ~70 % so they always read
FADE_IN_S = 0.5
CAPTION = "placeholder title card - the compositor does not generate video"
NO_FONT = "no font on this server for some of the prompt's characters"


def _digest(prompt: str) -> int:
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:4], "big")


def _rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), np.float32) * 255.0


class _Backdrop:
    """A vertical two-tone gradient under one large soft glow that drifts on a slow seeded ellipse, with a
    vignette, seen through the camera track (a slow push or the prompt's move)."""

    def __init__(self, prompt: str, width: int, height: int, rng: np.random.Generator, track: np.ndarray,
                 fps: int, speed: float):
        named = [hues for pattern, hues in PALETTES if pattern.search(prompt)]
        top_hue, glow_hue = named[0] if named else (rng.random(), rng.random())
        self.hues = (top_hue + rng.uniform(-0.02, 0.02), glow_hue + rng.uniform(-0.02, 0.02))
        self.light = 0.55 if NIGHT.search(prompt) else (1.0 if BRIGHT.search(prompt) else 0.8)
        self.w, self.h = max(8, width // RENDER_DIVISOR), max(8, height // RENDER_DIVISOR)
        self.size, self.track, self.fps, self.speed = (width, height), track, fps, speed
        ys, xs = np.mgrid[0:self.h, 0:self.w].astype(np.float32)
        self.xs, self.ys = xs / self.w - 0.5, ys / self.h - 0.5
        top, bottom = _rgb(self.hues[0], 0.55, 0.42 * self.light), _rgb(self.hues[0] + 0.04, 0.6, 0.12 * self.light)
        self.base = top + (bottom - top) * (self.ys + 0.5)[..., None]
        self.glow = _rgb(self.hues[1], 0.5, 0.34 * self.light)
        self.orbit = (rng.uniform(0.12, 0.22), rng.uniform(0.06, 0.12), rng.uniform(0, 2 * np.pi),
                      rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.09))  # radii, phase, rad/s
        aspect = self.w / self.h
        self.vignette = (1.0 - 0.45 * np.clip((self.xs * aspect) ** 2 + self.ys ** 2, 0, 1))[..., None]
        self.aspect = aspect

    def frame(self, i: int) -> np.ndarray:
        tx, ty, _, log_scale = (float(v) for v in self.track[i])
        zoom = float(np.exp(log_scale))
        rx, ry, phase, rate = self.orbit
        angle = phase + rate * self.speed * i / self.fps
        cx, cy = rx * np.cos(angle) + tx * 0.5, -0.12 + ry * np.sin(angle) + ty * 0.5
        d2 = ((self.xs - cx) * self.aspect) ** 2 + (self.ys - cy) ** 2
        glow = np.exp(-d2 / (2 * (0.32 * zoom) ** 2))[..., None]
        small = np.clip((self.base + glow * self.glow) * self.vignette, 0, 255).astype(np.uint8)
        return np.asarray(cv2.resize(small, self.size, interpolation=cv2.INTER_CUBIC))


def render_procedural(job: EngineInput, encoder: EncoderSettings, check: Callable[[], None],
                      report: Callable[[float], None]) -> EngineOutput:
    """The text-to-video title card for `job` (see the module docstring)."""
    out, prompt = job.output, job.prompt
    directions = read_prompt(prompt)
    rng = np.random.default_rng([out.seed & 0xFFFFFFFF, _digest(prompt)])
    speed = SPEED_FACTORS[directions.camera.speed] * PACE_FACTORS[directions.pace]
    n, fps, w, h = out.frames, out.fps, out.width, out.height
    if directions.camera.moves:
        track = word_move(directions.camera, n, fps, out.seed, directions.variation, directions.pace)
    else:
        track = default_move(n, fps, out.seed, directions.variation, speed)
    backdrop = _Backdrop(prompt, w, h, rng, track, fps, speed)

    setting = choose_setting(prompt)
    lines, font = fit_lines(setting.text or "Text-to-video placeholder", setting.font_path, w, h)
    caption_lines, caption_font = fit_lines(CAPTION + (f" ({NO_FONT})" if setting.missing else ""), "", w,
                                            round(min(h, w) * 0.42), max_lines=3)
    words = draw_lines(lines, font, w, h, h * 0.47)
    below = h - caption_font.size * 0.9 - block_height(caption_lines, caption_font) / 2
    caption = draw_lines(caption_lines, caption_font, w, h, below) * 0.6
    ink = np.maximum(words, caption)
    shadow = cv2.GaussianBlur(cv2.dilate(words, np.ones((3, 3), np.uint8)), (0, 0), max(1.0, h / 240))
    shadow = np.roll(shadow, (max(1, h // 240), max(1, h // 360)), axis=(0, 1)) * 0.65
    rows = np.flatnonzero((ink + shadow).max(axis=1) > 0)
    top, bottom = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, 0)
    ink, shadow = ink[top:bottom, :, None], shadow[top:bottom, :, None]
    fade_frames = max(1, round(FADE_IN_S * fps))

    # The lettering over the band is `band * keep + ink_light`: the shadow darkens, then the ink covers. Both
    # planes depend on the fade alone, so they are built once per fade step (all but the first frames share one).
    blends: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def blend(fade: float) -> tuple[np.ndarray, np.ndarray]:
        if fade not in blends:
            keep = (1.0 - shadow * fade) * (1.0 - ink * fade)
            blends[fade] = (np.repeat(keep, 3, axis=2), np.repeat(TEXT_LUMA * ink * fade, 3, axis=2))
        return blends[fade]

    def frame_at(i: int) -> np.ndarray:
        frame = backdrop.frame(i)
        keep, ink_light = blend(min(1.0, (i + 1) / fade_frames))
        band = cv2.multiply(frame[top:bottom], keep, dtype=cv2.CV_32F)
        frame[top:bottom] = cv2.add(band, ink_light, dtype=cv2.CV_8U)  # saturating, as the clip was
        return frame

    extra = {"mode": "text", "title": lines, "font": font_name(font), "missing_glyphs": setting.missing,
             "palette": [round(backdrop.hues[0] % 1, 3), round(backdrop.hues[1] % 1, 3)],
             "light": backdrop.light, "motion": "words" if directions.camera.moves else "seeded",
             "camera": sorted(directions.camera.moves), "pace": directions.pace, "looks": sorted(directions.looks)}
    grade = Grade(directions.looks, w, h, out.seed, directions.variation)
    return write_clip(job, frame_at, encoder, check, report, extra, grade)

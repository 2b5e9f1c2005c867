"""Text-to-video on the compositor: a procedural scene chosen by the prompt's words. A placeholder, not
generation: it draws a sky gradient, drifting soft lights and layered hills, nothing the prompt describes.

What the words choose (English and Chinese): the palette (sunset, ocean, forest, fire, desert, snow, neon,
space… else a hue drawn from the prompt's digest), the light (night/dark vs. day/bright), the motion (the
camera words of `prompt_reader`, as parallax: near layers move more; else a seeded drift) and the pace
(`calm`/`energetic` and `slow`/`fast`); the clip's grade words (`warm`, `mono`, `neon`…) grade it as they
grade footage. Everything is drawn from a generator seeded by (seed, prompt digest): the same request and
seed give the same frames, and different prompts give different pictures.
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
from refvid.engines.compositor.moves import PACE_FACTORS, SPEED_FACTORS, default_move, word_move
from refvid.engines.compositor.prompt_reader import read_prompt
from refvid.media.encode import EncoderSettings

# word pattern → (hue of the sky 0–1, hue of the land 0–1)
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
RENDER_DIVISOR = 4  # drawn at a quarter of the output size, then smoothly enlarged (soft shapes lose nothing)
LIGHTS = 7


def _digest(prompt: str) -> int:
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:4], "big")


def _rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), np.float32) * 255.0


def render_procedural(job: EngineInput, encoder: EncoderSettings, check: Callable[[], None],
                      report: Callable[[float], None]) -> EngineOutput:
    """The text-to-video placeholder clip for `job` (see the module docstring)."""
    out, prompt = job.output, job.prompt
    directions = read_prompt(prompt)
    rng = np.random.default_rng([out.seed & 0xFFFFFFFF, _digest(prompt)])
    named = [hues for pattern, hues in PALETTES if pattern.search(prompt)]
    sky_hue, land_hue = named[0] if named else (rng.random(), rng.random())
    sky_hue, land_hue = sky_hue + rng.uniform(-0.03, 0.03), land_hue + rng.uniform(-0.03, 0.03)
    light = 0.35 if NIGHT.search(prompt) else (1.0 if BRIGHT.search(prompt) else 0.75)
    speed = SPEED_FACTORS[directions.camera.speed] * PACE_FACTORS[directions.pace]
    n, fps = out.frames, out.fps
    if directions.camera.moves:
        track = word_move(directions.camera, n, fps, out.seed, directions.variation, directions.pace)
    else:
        track = default_move(n, fps, out.seed, directions.variation, speed)
    w, h = max(8, out.width // RENDER_DIVISOR), max(8, out.height // RENDER_DIVISOR)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    top, bottom = _rgb(sky_hue, 0.75, 0.55 * light), _rgb(sky_hue + 0.08, 0.45, 0.95 * light)
    sky = top + (bottom - top) * (ys / h)[..., None]
    lights = [(rng.uniform(0, w), rng.uniform(0, h * 0.7), rng.uniform(0.05, 0.14) * w,
               rng.uniform(-1, 1, 2) * w * 0.02, _rgb(sky_hue + rng.uniform(-0.15, 0.15), 0.5, light))
              for _ in range(LIGHTS)]
    hills = [(rng.uniform(0.55, 0.85) * h, rng.uniform(0.04, 0.1) * h, rng.uniform(1.5, 4.0) * 2 * np.pi / w,
              rng.uniform(0, 2 * np.pi), _rgb(land_hue, 0.6, (0.25 + 0.2 * k) * light), 0.3 + 0.5 * k)
             for k in range(3)]
    unit = float(np.sqrt(w * h))

    def frame_at(i: int) -> np.ndarray:
        t = i / fps * speed
        tx, ty, _, log_scale = (float(v) for v in track[i])
        zoom = float(np.exp(log_scale))
        frame = sky.copy()
        for x0, y0, radius, velocity, colour in lights:
            cx = (x0 + velocity[0] * t * fps + tx * unit * 0.3 - w / 2) * zoom + w / 2
            cy = (y0 + velocity[1] * t * fps + ty * unit * 0.3 - h / 2) * zoom + h / 2
            glow = np.exp(-((xs - cx % w) ** 2 + (ys - cy % h) ** 2) / (2 * (radius * zoom) ** 2))
            frame += glow[..., None] * colour * 0.6
        for base, amplitude, frequency, phase, colour, parallax in hills:
            shift = tx * unit * parallax * 2.0 + t * 2.0 * parallax
            ridge = base + ty * unit * parallax + amplitude * np.sin(frequency * (xs[0] - shift) / zoom + phase)
            mask = np.clip(ys - ridge[None, :], 0.0, 1.0)[..., None]
            frame = frame * (1 - mask) + colour * mask
        small = np.clip(frame, 0, 255).astype(np.uint8)
        return np.asarray(cv2.resize(small, (out.width, out.height), interpolation=cv2.INTER_CUBIC))

    extra = {"mode": "text", "placeholder": True, "palette": [round(sky_hue % 1, 3), round(land_hue % 1, 3)],
             "light": light, "motion": "words" if directions.camera.moves else "seeded",
             "camera": sorted(directions.camera.moves), "pace": directions.pace, "looks": sorted(directions.looks)}
    grade = Grade(directions.looks, out.width, out.height, out.seed, directions.variation)
    return write_clip(job, frame_at, encoder, check, report, extra, grade)

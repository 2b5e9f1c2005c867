"""Issue 16 acceptance: through `refvid serve` with tiny weights, `REFVID_DIFFUSION_FOLDERS` routing the standard
model to a MiniMax-H3 folder and the fast model to an LTX-2 folder (both written by `refvid dev tiny-weights`).

- a 5 s 480p H3 task with 3 images + 1 video + 1 audio completes with a conformant MP4 whose audio is the
  model's: the tiny model samples at 160 Hz, so its track has nothing above 80 Hz, unlike the click track it
  was given; the same seed reproduces frames and samples exactly;
- 4 s and 15 s H3 tasks have exactly 96 and 360 frames;
- an LTX-2 task with 2 images and `generate_audio` completes with audio;
- a request no routed adapter can honour (an @Audio reference on LTX-2) fails with `no_capable_engine`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from tests.support import media_factory as mf
from tests.support.servers import KEY, Server, env_for, wait_terminal
from tests.support.video_checks import assert_contract

pytest.importorskip("torchvision")
pytest.importorskip("diffusers.modular_pipelines.minimax_h3")
pytestmark = pytest.mark.slow
STANDARD, FAST = "seedance-2.0-reference-to-video", "seedance-2.0-fast-reference-to-video"


def decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(str(path)) as container:
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    return frames, audio


def high_band_share(samples: np.ndarray, rate: int = 48_000, cutoff_hz: float = 1_000) -> float:
    """Share of the signal's energy above `cutoff_hz`."""
    spectrum = np.abs(np.fft.rfft(samples.mean(axis=0) if samples.ndim == 2 else samples)) ** 2
    freqs = np.fft.rfftfreq(samples.shape[-1], 1 / rate)
    return float(spectrum[freqs > cutoff_hz].sum() / max(spectrum.sum(), 1e-20))


def run_task(client: httpx.Client, tmp: Path, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    created = client.post("/v1/videos/generations", json=body)
    assert created.status_code == 200, created.text
    task = wait_terminal(client, created.json()["id"], timeout_s=300)
    path = tmp / f"{name}.mp4"
    if task["status"] == "completed":
        path.write_bytes(httpx.get(task["results"][0]["url"], timeout=30).content)
    return task, path


def test_h3_and_ltx2_behind_refvid_serve(tmp_path: Path, media_server: tuple[str, Path]) -> None:
    weights = tmp_path / "weights"
    for model in ("minimax-h3", "ltx2"):
        subprocess.run([sys.executable, "-m", "refvid.cli", "dev", "tiny-weights", str(weights), "--model", model],
                       check=True, capture_output=True, env=env_for(HF_HUB_OFFLINE="1"))
    base, folder = media_server
    for i in range(3):
        mf.make_image(folder / f"i{i}.png", 640, 480, seed=i, tint=((255, 0, 0), (0, 0, 255), (0, 255, 0))[i])
    mf.make_video(folder / "motion.mp4", 320, 240, seconds=2.5)
    mf.make_wav(folder / "voice.wav", seconds=3.0)
    images = [f"{base}/i{i}.png" for i in range(3)]
    env = env_for(REFVID_ROUTES=f"{STANDARD}=diffusion,{FAST}=diffusion", REFVID_DIFFUSION_WEIGHTS=str(weights),
                  REFVID_DIFFUSION_FOLDERS=f"{STANDARD}=minimax-h3,{FAST}=ltx2", HF_HUB_OFFLINE="1")
    server = Server(tmp_path / "data", env).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            models = {m["id"]: m["engine"] for m in client.get("/v1/models").json()["data"]}
            assert models[STANDARD] == models[FAST] == "diffusion"
            full = {"model": STANDARD, "prompt": "@Image1 and @Image2 dance like @Video1 to @Audio1, @Image3 watches",
                    "resolution": "480p", "ratio": "16:9", "duration": 5, "generate_audio": True, "seed": 7,
                    "image_urls": images, "video_urls": [f"{base}/motion.mp4"], "audio_urls": [f"{base}/voice.wav"]}
            task, first = run_task(client, tmp_path, "h3", full)
            assert task["status"] == "completed", task
            assert task["results"][0]["seed"] == 7
            assert_contract(first, 864, 496, 5, has_audio=True)
            frames, audio = decode(first)
            assert np.abs(audio).max() > 1e-4  # a real track, not silence
            clicks = mf.clicks(3.0, [0.5, 1.5, 2.5], 48_000)
            assert high_band_share(clicks) > 0.2 and high_band_share(audio) < 0.02  # the model's, not the clicks

            task, again = run_task(client, tmp_path, "h3-again", full)
            assert task["status"] == "completed", task
            frames2, audio2 = decode(again)
            assert np.array_equal(frames, frames2) and np.array_equal(audio, audio2)

            for seconds, count in ((4, 96), (15, 360)):
                task, path = run_task(client, tmp_path, f"h3-{seconds}", {**full, "duration": seconds})
                assert task["status"] == "completed", task
                assert assert_contract(path, 864, 496, seconds, has_audio=True).frames == count

            ltx = {"model": FAST, "prompt": "@Image2 turns into @Image1", "resolution": "480p", "ratio": "16:9",
                   "duration": 4, "generate_audio": True, "seed": 3, "image_urls": images[:2]}
            task, path = run_task(client, tmp_path, "ltx2", ltx)
            assert task["status"] == "completed", task
            assert_contract(path, 864, 496, 4, has_audio=True)

            refused = {**ltx, "prompt": "@Image1 sings @Audio1", "audio_urls": [f"{base}/voice.wav"]}
            task, _ = run_task(client, tmp_path, "refused", refused)
            assert task["status"] == "failed", task
            assert task["error"]["code"] == "no_capable_engine"
            assert "audio reference" in task["error"]["message"]
    finally:
        server.stop()

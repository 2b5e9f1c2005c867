"""Issue 6 acceptance: `refvid dev tiny-weights` + REFVID_ROUTES=…=diffusion + `refvid serve` → a task with
image and video references completes with a contract-conformant MP4 (tiny random weights, on CPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import media_factory as mf
from tests.support.servers import KEY, Server, env_for, wait_terminal
from tests.support.video_checks import assert_contract

pytest.importorskip("diffusers")
pytestmark = pytest.mark.slow
FAST = "seedance-2.0-fast-reference-to-video"


def test_task_routed_to_diffusion_completes(tmp_path: Path, media_server: tuple[str, Path]) -> None:
    weights = tmp_path / "weights"
    subprocess.run([sys.executable, "-m", "refvid.cli", "dev", "tiny-weights", str(weights)], check=True,
                   capture_output=True, env=env_for(HF_HUB_OFFLINE="1"))
    base, folder = media_server
    mf.make_image(folder / "char.png", 640, 480, seed=5)
    mf.make_video(folder / "motion.mp4", 320, 240, seconds=2.5)
    env = env_for(REFVID_ROUTES=f"{FAST}=diffusion", REFVID_DIFFUSION_WEIGHTS=str(weights), HF_HUB_OFFLINE="1")
    server = Server(tmp_path / "data", env).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            models = {m["id"]: m["engine"] for m in client.get("/v1/models").json()["data"]}
            assert models[FAST] == "diffusion"
            body = {"model": FAST, "prompt": "@Image1 walks, camera moves like @Video1", "resolution": "480p",
                    "ratio": "16:9", "duration": 4, "generate_audio": False, "seed": 7,
                    "image_urls": [f"{base}/char.png"], "video_urls": [f"{base}/motion.mp4"]}
            created = client.post("/v1/videos/generations", json=body)
            assert created.status_code == 200, created.text
            task = wait_terminal(client, created.json()["id"], timeout_s=240)
            assert task["status"] == "completed", task
            result = task["results"][0]
            assert result["steps"] and result["seed"] == 7
            (tmp_path / "out.mp4").write_bytes(httpx.get(result["url"], timeout=30).content)
            assert_contract(tmp_path / "out.mp4", 864, 496, 4, has_audio=False)
    finally:
        server.stop()

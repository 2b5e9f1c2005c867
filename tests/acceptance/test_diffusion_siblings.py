"""Issue 17 through `refvid serve` on the diffusion engine: with `REFVID_ROUTES` sending FoxAPI's sibling models
to it and tiny weights on disk, a fast image-to-video task (first + end frame) completes on LTX-2 and a fast
text-to-video task on Wan VACE, both with conformant MP4s; a standard text-to-video task whose only folder is
the ref2va half of MiniMax-H3 fails at once with `no_capable_engine` naming text-to-video."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from refvid.contract import FAST_IMAGE_MODEL, FAST_TEXT_MODEL, TEXT_MODEL
from tests.support import media_factory as mf
from tests.support.servers import KEY, Server, env_for, wait_terminal
from tests.support.video_checks import assert_contract

pytest.importorskip("diffusers")
pytestmark = pytest.mark.slow


def write_weights(root: Path) -> None:
    for model in ("ltx2", "wan-vace"):
        subprocess.run([sys.executable, "-m", "refvid.cli", "dev", "tiny-weights", str(root), "--model", model],
                       check=True, capture_output=True, env=env_for(HF_HUB_OFFLINE="1"))
    half = root / "h3-ref2va-half"  # routing reads only these files: it fails before anything loads
    half.mkdir()
    (half / "refvid.json").write_text(json.dumps({"adapter": "minimax_h3"}))
    (half / "modular_model_index.json").write_text(json.dumps({"_class_name": "MiniMaxH3ModularPipeline",
                                                               "transformer_ref": ["diffusers", "X", {}]}))


def test_siblings_routed_to_the_diffusion_engine(tmp_path: Path, media_server: tuple[str, Path]) -> None:
    weights = tmp_path / "weights"
    write_weights(weights)
    base, folder = media_server
    mf.write_image(folder / "first.png", mf.textured_rgb(640, 360, seed=5, tint=(220, 180, 40)))
    mf.write_image(folder / "last.png", mf.textured_rgb(640, 360, seed=6, tint=(30, 160, 90)))
    routed = (FAST_IMAGE_MODEL, FAST_TEXT_MODEL, TEXT_MODEL)
    env = env_for(REFVID_ROUTES=",".join(f"{model}=diffusion" for model in routed),
                  REFVID_DIFFUSION_WEIGHTS=str(weights), HF_HUB_OFFLINE="1",
                  REFVID_DIFFUSION_FOLDERS=f"{FAST_IMAGE_MODEL}=ltx2,{FAST_TEXT_MODEL}=wan-vace,"
                                           f"{TEXT_MODEL}=h3-ref2va-half")
    server = Server(tmp_path / "data", env).start()
    bodies = {
        "i2v": {"model": FAST_IMAGE_MODEL, "image_url": f"{base}/first.png", "end_image_url": f"{base}/last.png",
                "prompt": "the kite climbs", "resolution": "480p", "ratio": "adaptive", "duration": 4,
                "generate_audio": True, "seed": 5},
        "t2v": {"model": FAST_TEXT_MODEL, "prompt": "a kite over the sea", "resolution": "480p", "ratio": "1:1",
                "duration": 4, "generate_audio": False, "seed": 5},
        "refused": {"model": TEXT_MODEL, "prompt": "a kite over the sea", "resolution": "480p", "duration": 4},
    }
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            engines = {m["id"]: m["engine"] for m in client.get("/v1/models").json()["data"]}
            assert all(engines[model] == "diffusion" for model in routed)
            ids = {}
            for name, body in bodies.items():
                created = client.post("/v1/videos/generations", json=body)
                assert created.status_code == 200, created.text
                ids[name] = created.json()["id"]
            tasks = {name: wait_terminal(client, task_id, timeout_s=300) for name, task_id in ids.items()}
            outputs = {}
            for name in ("i2v", "t2v"):
                assert tasks[name]["status"] == "completed", tasks[name]
                outputs[name] = tmp_path / f"{name}.mp4"
                outputs[name].write_bytes(httpx.get(tasks[name]["results"][0]["url"], timeout=30).content)
    finally:
        server.stop()
    assert_contract(outputs["i2v"], 864, 496, 4, has_audio=True)  # adaptive: the 16:9 first frame
    assert_contract(outputs["t2v"], 640, 640, 4, has_audio=False)
    refused = tasks["refused"]
    assert refused["status"] == "failed" and refused["error"]["code"] == "no_capable_engine", refused
    assert "text-to-video" in refused["error"]["message"]

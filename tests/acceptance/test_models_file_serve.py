"""An operator's models file (`REFVID_MODELS`) changes what `refvid serve` accepts without code: a removed
built-in is refused naming it, an added model (`base` + narrowed limits) is validated by its own limits and
listed by `GET /v1/models`; a bad file stops `serve` at start naming the file, the table and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import KEY, Server, env_for

pytestmark = pytest.mark.slow
MODELS_TOML = """
[[model]]
id = "seedance-2.0-fast-reference-to-video"
enabled = false

[[model]]
id = "house-style-v1"
base = "seedance-2.0-reference-to-video"
max_duration = 8
max_images = 4
"""


def body(model: str, images: int = 1, duration: int = 5) -> dict[str, object]:
    return {"model": model, "prompt": "@Image1 in the rain", "resolution": "480p", "duration": duration,
            "image_urls": [f"http://127.0.0.1:9/{i}.png" for i in range(images)]}


def test_models_file_changes_validation_and_the_model_list(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(MODELS_TOML)
    server = Server(tmp_path / "data", env_for(REFVID_MODELS=str(models), REFVID_WORKERS="0")).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            listed = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
            assert "seedance-2.0-fast-reference-to-video" not in listed
            house = listed["house-style-v1"]
            assert (house["mode"], house["limits"]["max_duration"], house["limits"]["max_images"]) == (
                "reference", 8, 4)
            assert listed["seedance-2.5-reference-to-video"]["limits"]["max_images"] == 30

            refusals = {
                "duration": client.post("/v1/videos/generations", json=body("house-style-v1", duration=9)),
                "image_urls": client.post("/v1/videos/generations", json=body("house-style-v1", images=5)),
                "model": client.post("/v1/videos/generations", json=body("seedance-2.0-fast-reference-to-video")),
            }
            for param, answer in refusals.items():
                assert answer.status_code == 422, answer.text
                assert answer.json()["error"]["param"] == param, answer.text
            assert "at most 8" in refusals["duration"].json()["error"]["message"]
            assert "house-style-v1 takes at most 4" in refusals["image_urls"].json()["error"]["message"]
            assert "seedance-2.0-fast-reference-to-video" in refusals["model"].json()["error"]["message"]
            accepted = client.post("/v1/videos/generations", json=body("house-style-v1", images=4, duration=8))
            assert accepted.status_code in (200, 202), accepted.text
    finally:
        server.stop()


def test_a_bad_models_file_stops_serve_naming_file_table_and_key(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text('[[model]]\nid = "ok-v1"\nbase = "seedance-2.0-reference-to-video"\n\n'
                      '[[model]]\nid = "bad-v1"\nbase = "seedance-2.0-reference-to-video"\nmax_images = "four"\n')
    done = subprocess.run([sys.executable, "-m", "refvid.cli", "serve", "--models", str(models), "--port", "9",
                           "--data-dir", str(tmp_path / "data")], env=env_for(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(models) in done.stderr and "table 2 (id 'bad-v1')" in done.stderr
    assert "key 'max_images'" in done.stderr and "Traceback" not in done.stderr

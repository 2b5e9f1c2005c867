"""The SGLang provider against a real SGLang diffusion server, not a fake: `refvid serve` + `refvid worker`
subprocesses on loopback in front of `sglang serve` 0.5.23 (`--backend diffusers`, a tiny random Wan 2.1 T2V
folder, on the CPU; tests/support/sglang_server.py). The pool entry's `[upstream.request]` table asks the tiny
model for a 64×64, 5-frame, 2-step clip, which refvid conforms to the contract's size, fps and length.

The server is the run's one, shared with tests/contract/test_sglang_upstream.py and with the other xdist
worker, so each deployment names its own served model (SGLang echoes a request's model unchecked) and a test
counts the server's jobs by that name.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid.contract import TEXT_MODEL, pixel_size
from tests.support.servers import wait_terminal
from tests.support.sglang_server import SGLangServer
from tests.support.upstreams import Deployment, client_for, pool_toml, submit, upstream
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow
TINY_CLIP = {"size": "64x64", "num_frames": 5, "fps": 8, "num_inference_steps": 2}
PROMPT = "a lighthouse at dusk, waves"


def text_task(prompt: str = PROMPT) -> dict[str, Any]:
    return {"model": TEXT_MODEL, "prompt": prompt, "resolution": "480p", "ratio": "16:9", "duration": 4,
            "generate_audio": False}


def server_jobs(sglang: SGLangServer, model: str) -> dict[str, dict[str, Any]]:
    """The real server's jobs for `model` by id (its list is in memory, newest first)."""
    listed = httpx.get(f"{sglang.url}/v1/videos", params={"limit": 100}, timeout=30)
    assert listed.status_code == 200, listed.text
    return {job["id"]: job for job in listed.json()["data"] if job["model"] == model}


@dataclass
class Deployed:
    """A running deployment and the served model name its pool entry sends (unique to it)."""

    deployment: Deployment
    model: str


@pytest.fixture
def deploy(tmp_path_factory: pytest.TempPathFactory,
           sglang_server: SGLangServer) -> Iterator[Callable[..., Deployed]]:
    """`deploy(submit, **request)`: serve + worker over a pool of the one real SGLang server (in a short folder:
    the data folder holds a Unix socket, whose path may not pass ~107 bytes)."""
    folder = tmp_path_factory.mktemp("sgl")
    started: list[Deployment] = []

    def start(submit: str, **request: Any) -> Deployed:
        model = f"{sglang_server.model_name}-{secrets.token_hex(4)}"
        entry = upstream("real-sglang", "sglang", sglang_server.url, serves=[TEXT_MODEL], family="wan",
                         model=model, submit=submit, poll_interval_s=0.2, expected_run_s=10.0,
                         request={**TINY_CLIP, **request})
        started.append(Deployment(folder / str(len(started)), pool_toml(entry)).start())
        return Deployed(started[-1], model)

    yield start
    for deployment in started:
        deployment.stop()


def assert_conformant(client: httpx.Client, task: dict[str, Any], tmp_path: Path) -> None:
    assert task["status"] == "completed", task
    video = tmp_path / f"{task['id']}.mp4"
    video.write_bytes(client.get(task["results"][0]["url"]).content)
    assert_contract(video, *pixel_size("480p", "16:9"), 4, has_audio=False)


@pytest.mark.parametrize("submission", ["json", "multipart"])
def test_a_text_task_completes_on_the_real_server_and_reads_in_every_dialect(
        deploy: Callable[..., Deployed], sglang_server: SGLangServer, submission: str, tmp_path: Path) -> None:
    deployed = deploy(submission)
    with client_for(deployed.deployment) as client:
        task = wait_terminal(client, submit(client, text_task()), timeout_s=180)
        assert_conformant(client, task, tmp_path)
        ark = client.get(f"/api/v3/contents/generations/tasks/{task['id']}")
        fox = client.get(f"/v1/tasks/{task['id']}")
    assert fox.status_code == 200 and fox.json()["status"] == "completed"
    assert ark.status_code == 200, ark.text
    assert ark.json()["status"] == "succeeded" and ark.json()["content"]["video_url"] == task["results"][0]["url"]
    [job] = server_jobs(sglang_server, deployed.model).values()
    assert job["status"] == "completed" and job["size"] == "64x64"


def test_a_worker_killed_mid_job_leaves_one_job_on_the_server(
        deploy: Callable[..., Deployed], sglang_server: SGLangServer, tmp_path: Path) -> None:
    # Enough steps that the job still runs when the worker dies (the tiny model takes well under a second each).
    deployed = deploy("json", num_inference_steps=30)
    deployment = deployed.deployment
    with client_for(deployment) as client:
        task_id = submit(client, text_task("a kite over the dunes"))
        deadline = time.monotonic() + 120
        while not server_jobs(sglang_server, deployed.model):
            assert time.monotonic() < deadline, deployment.worker_log()
            time.sleep(0.1)
        time.sleep(0.5)  # the worker saves the job id before its first poll
        [job] = server_jobs(sglang_server, deployed.model).values()
        assert job["status"] in ("queued", "in_progress")
        assert deployment.worker is not None
        deployment.worker.kill9()
        deployment.restart_worker()
        task = wait_terminal(client, task_id, timeout_s=240)
        assert_conformant(client, task, tmp_path)
    after = server_jobs(sglang_server, deployed.model)
    assert list(after) == [job["id"]], deployment.worker_log()
    assert after[job["id"]]["status"] == "completed"

"""The upstream engine end to end: `refvid serve` + `refvid worker` subprocesses on loopback in front of the
fakes of vLLM-Omni and SGLang Diffusion (tests/support/fakes), driven through the FoxAPI API."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from refvid.contract import pixel_size
from tests.support import media_factory as mf
from tests.support.fakes.sglang import FakeSGLang
from tests.support.fakes.videos_api import FakeVideosServer
from tests.support.fakes.vllm_omni import FakeVllmOmni
from tests.support.servers import wait_terminal
from tests.support.upstreams import MODEL, Deployment, client_for, pool_toml, submit, upstream
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow
H3 = "MiniMaxAI/MiniMax-H3"
PROMPT = "@Image2 dances with @Image1 and @Image3, moving like @Video1, to @Audio1"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("upstream-media")
    return {**{f"img{i}": mf.make_image(folder / f"img{i}.png", 640, 480, seed=i) for i in (1, 2, 3)},
            "clip": mf.make_video(folder / "clip.mp4", 320, 240, seconds=2.5),
            "music": mf.make_mp3(folder / "music.mp3", seconds=3.0),
            # what the upstream returns: 64x48 at 16 fps, 2 s, with sound (the contract wants none of that)
            "result": mf.make_video(folder / "result.mp4", 64, 48, seconds=2.0, fps=16, with_audio=True)}


@pytest.fixture
def refs(media_server: tuple[str, Path], media: dict[str, Path]) -> str:
    base, folder = media_server
    for path in media.values():
        (folder / path.name).write_bytes(path.read_bytes())
    return base


def body(base: str, **changes: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": PROMPT, "resolution": "480p", "ratio": "16:9", "duration": 4,
            "generate_audio": True, "image_urls": [f"{base}/img{i}.png" for i in (1, 2, 3)],
            "video_urls": [f"{base}/clip.mp4"], "audio_urls": [f"{base}/music.mp3"], **changes}


def wait_until(predicate: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture
def omni(media: dict[str, Path]) -> Iterator[FakeVllmOmni]:
    with FakeVllmOmni(media["result"].read_bytes(), served_model=H3) as fake:
        yield fake


@pytest.fixture
def sglang(media: dict[str, Path]) -> Iterator[FakeSGLang]:
    with FakeSGLang(media["result"].read_bytes(), served_model=H3) as fake:
        yield fake


def deploy(tmp_path: Path, *upstreams: dict[str, Any]) -> Iterator[Deployment]:
    running = Deployment(tmp_path / "deploy", pool_toml(*upstreams)).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def on_omni(tmp_path: Path, omni: FakeVllmOmni) -> Iterator[Deployment]:
    yield from deploy(tmp_path, upstream("omni", "vllm-omni", omni.url, model=H3, family="minimax-h3"))


@pytest.fixture
def on_sglang(tmp_path: Path, sglang: FakeSGLang) -> Iterator[Deployment]:
    yield from deploy(tmp_path, upstream("sgl", "sglang", sglang.url, model=H3, family="minimax-h3",
                                         submit="json"))


def check_result(client: httpx.Client, task: dict[str, Any], tmp_path: Path, audio: bool = True) -> None:
    assert task["status"] == "completed", task
    video = tmp_path / "out.mp4"
    video.write_bytes(client.get(task["results"][0]["url"] if "url" in task["results"][0]
                                 else task["results"][0]).content)
    width, height = pixel_size("480p", "16:9")
    assert_contract(video, width, height, 4, has_audio=audio)


def test_vllm_omni_h3_gets_five_references_in_mention_order(
        on_omni: Deployment, omni: FakeVllmOmni, refs: str, media: dict[str, Path], tmp_path: Path) -> None:
    with client_for(on_omni) as client:
        task = wait_terminal(client, submit(client, body(refs)), timeout_s=120)
        check_result(client, task, tmp_path)
    [job] = omni.creates
    assert job.fields["model"] == H3
    assert json.loads(job.fields["extra_params"]) == {"task": "ref2va", "duration": 4.0}
    assert job.fields["prompt"] == ("<Picture 2> dances with <Picture 1> and <Picture 3>, moving like <Video 1>, "
                                    "to <Audio 1>")
    assert [(p.field, p.content_type) for p in job.files] == [("input_references", "image/png")] * 3 + [
        ("input_references", "video/mp4"), ("input_references", "audio/mpeg")]
    sent = [p.data for p in job.files]
    assert sent == [media[name].read_bytes() for name in ("img1", "img2", "img3", "clip", "music")]


def test_sglang_h3_gets_conditions_in_order_and_a_target(
        on_sglang: Deployment, sglang: FakeSGLang, refs: str, media: dict[str, Path], tmp_path: Path) -> None:
    with client_for(on_sglang) as client:
        task = wait_terminal(client, submit(client, body(refs)), timeout_s=120)
        check_result(client, task, tmp_path)
    [job] = sglang.creates
    assert job.fields["task"] == "ref2va" and job.fields["model"] == H3
    assert job.fields["target"] == {"short_edge": 768, "aspect_ratio": "16:9", "duration_seconds": 4}
    conditions = job.fields["conditions"]
    assert [c["type"] for c in conditions] == ["image"] * 3 + ["video", "audio"]
    assert {c["role"] for c in conditions} == {"reference"}
    decoded = [base64.b64decode(c["uri"].split(",", 1)[1]) for c in conditions]
    assert decoded == [media[name].read_bytes() for name in ("img1", "img2", "img3", "clip", "music")]


def job_running(fake: FakeVideosServer, count: int = 1) -> Any:
    return lambda: len(fake.creates) >= count and fake.open_jobs() >= 1


def test_a_worker_killed_mid_job_resumes_it_without_a_second_create(
        on_omni: Deployment, omni: FakeVllmOmni, refs: str, tmp_path: Path) -> None:
    omni.plan(held=True)
    with client_for(on_omni) as client:
        task_id = submit(client, body(refs))
        wait_until(job_running(omni))
        time.sleep(0.5)  # the id is saved before the first poll; give the worker a poll or two
        assert on_omni.worker is not None
        on_omni.worker.kill9()
        on_omni.restart_worker()
        time.sleep(1.0)
        omni.release_all()
        task = wait_terminal(client, task_id, timeout_s=120)
        check_result(client, task, tmp_path)
    assert len(omni.creates) == 1, on_omni.worker_log()


def test_a_forgotten_job_is_resubmitted_once_then_the_task_fails(
        on_omni: Deployment, omni: FakeVllmOmni, refs: str, tmp_path: Path) -> None:
    omni.plan(held=True)
    with client_for(on_omni) as client:
        first = submit(client, body(refs))
        wait_until(job_running(omni))
        omni.plan(held=False)
        omni.restart()  # the upstream process restarted: job 1 is 404 now
        task = wait_terminal(client, first, timeout_s=120)
        check_result(client, task, tmp_path)
        assert len(omni.creates) == 2  # resubmitted once

        omni.plan(held=True)
        second = submit(client, body(refs))
        wait_until(job_running(omni, 3))
        omni.restart()
        wait_until(job_running(omni, 4))
        omni.restart()  # forgotten again: no third job
        failed = wait_terminal(client, second, timeout_s=120)
    assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_error", failed
    assert "lost job" in failed["error"]["message"]
    assert len(omni.creates) == 4


def test_cancel_while_running_deletes_the_vllm_omni_job(
        on_omni: Deployment, omni: FakeVllmOmni, refs: str) -> None:
    omni.plan(held=True)
    with client_for(on_omni) as client:
        task_id = submit(client, body(refs))
        wait_until(lambda: omni.open_jobs() and client.get(f"/v1/tasks/{task_id}").json()["progress"] >= 10)
        assert client.get(f"/v1/tasks/{task_id}").json()["task_info"]["can_cancel"] is True
        assert client.post(f"/v1/tasks/{task_id}/cancel").status_code == 200
        task = wait_terminal(client, task_id, timeout_s=60)
    assert task["status"] == "cancelled"
    assert omni.deletes == [omni.creates[0].id]


def test_an_sglang_job_cannot_be_cancelled_once_submitted(
        on_sglang: Deployment, sglang: FakeSGLang, refs: str, tmp_path: Path) -> None:
    sglang.plan(held=True)
    with client_for(on_sglang) as client:
        task_id = submit(client, body(refs))
        wait_until(lambda: client.get(f"/v1/tasks/{task_id}").json()["task_info"]["can_cancel"] is False)
        assert client.post(f"/v1/tasks/{task_id}/cancel").status_code == 409
        sglang.release_all()
        check_result(client, wait_terminal(client, task_id, timeout_s=120), tmp_path)
    assert sglang.deletes == []


def test_a_failed_job_fails_the_task_with_its_message_and_502_bursts_are_retried(
        on_omni: Deployment, omni: FakeVllmOmni, refs: str, tmp_path: Path) -> None:
    omni.plan(outcome="failed", message="CUDA out of memory while decoding")
    with client_for(on_omni) as client:
        failed = wait_terminal(client, submit(client, body(refs)), timeout_s=120)
        assert failed["status"] == "failed", failed
        assert failed["error"]["code"] == "upstream_error"
        assert "CUDA out of memory while decoding" in failed["error"]["message"]

        omni.plan(outcome="completed", run_s=1.0)
        task_id = submit(client, body(refs))
        wait_until(job_running(omni, 2))
        omni.burst(5, status=502)
        check_result(client, wait_terminal(client, task_id, timeout_s=120), tmp_path)
    assert len(omni.creates) == 2
    assert sum(1 for method, _ in omni.requests if method == "GET") > 5


TEXT = "seedance-2.0-text-to-video"


def text_body(**changes: Any) -> dict[str, Any]:
    return {"model": TEXT, "prompt": "a lighthouse at dusk, waves", "resolution": "480p", "ratio": "16:9",
            "duration": 4, "generate_audio": False, **changes}


@pytest.fixture
def pair(media: dict[str, Path]) -> Iterator[tuple[FakeVllmOmni, FakeVllmOmni]]:
    with FakeVllmOmni(media["result"].read_bytes(), served_model=H3) as a, \
            FakeVllmOmni(media["result"].read_bytes(), served_model=H3) as b:
        a.plan(run_s=1.0)
        b.plan(run_s=1.0)
        yield a, b


def pooled(tmp_path: Path, a: FakeVllmOmni, b: FakeVllmOmni) -> Iterator[Deployment]:
    yield from deploy(tmp_path, *(upstream(name, "vllm-omni", fake.url, model=H3, family="minimax-h3",
                                           serves=[TEXT], max_in_flight=2) for name, fake in (("a", a), ("b", b))))


def test_a_pool_of_two_never_exceeds_max_in_flight_and_uses_both(
        tmp_path: Path, pair: tuple[FakeVllmOmni, FakeVllmOmni]) -> None:
    a, b = pair
    for deployment in pooled(tmp_path, a, b):
        with client_for(deployment) as client:
            ids = [submit(client, text_body(seed=i)) for i in range(8)]
            wait_until(lambda: len(a.creates) + len(b.creates) >= 2)
            [busy] = [m for m in client.get("/v1/models").json()["data"] if m["id"] == TEXT]
            tasks = [wait_terminal(client, task_id, timeout_s=180) for task_id in ids]
            models = client.get("/v1/models").json()["data"]
    assert [t["status"] for t in tasks] == ["completed"] * 8
    assert a.peak_open <= 2 and b.peak_open <= 2
    assert a.creates and b.creates and len(a.creates) + len(b.creates) == 8
    [text] = [m for m in models if m["id"] == TEXT]
    described = text["details"]["upstreams"]
    assert [(u["name"], u["provider"], u["model"]) for u in described] == [("a", "vllm-omni", H3),
                                                                          ("b", "vllm-omni", H3)]
    assert a.url not in json.dumps(models) and "url" not in described[0]
    assert all(u["healthy"] for u in described) and [u["in_flight"] for u in described] == [0, 0]
    assert 1 <= sum(u["in_flight"] for u in busy["details"]["upstreams"]) <= 4


def test_a_pool_with_one_upstream_refusing_connections_runs_everything_on_the_other(
        tmp_path: Path, pair: tuple[FakeVllmOmni, FakeVllmOmni]) -> None:
    a, b = pair
    a.refuse()
    for deployment in pooled(tmp_path, a, b):
        with client_for(deployment) as client:
            ids = [submit(client, text_body(seed=i)) for i in range(8)]
            tasks = [wait_terminal(client, task_id, timeout_s=180) for task_id in ids]
            [text] = [m for m in client.get("/v1/models").json()["data"] if m["id"] == TEXT]
    assert [t["status"] for t in tasks] == ["completed"] * 8
    assert len(b.creates) == 8 and b.peak_open <= 2
    health = {u["name"]: (u["healthy"], u["in_flight"]) for u in text["details"]["upstreams"]}
    assert health == {"a": (False, 0), "b": (True, 0)}


def test_a_request_no_upstream_can_honour_is_refused_at_submit(
        tmp_path: Path, omni: FakeVllmOmni, refs: str) -> None:
    no_audio = upstream("omni", "vllm-omni", omni.url, model=H3, family="minimax-h3", accepts={"max_audios": 0})
    for deployment in deploy(tmp_path, no_audio):
        with client_for(deployment) as client:
            refused = client.post("/v1/videos/generations", json=body(refs))
            too_fine = client.post("/v1/videos/generations", json=body(refs, resolution="1080p", audio_urls=[]))
            models = client.get("/v1/models").json()["data"]
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "unsupported_by_upstream" and error["param"] == "audio_urls", error
    assert "upstream omni: audio_urls has 1, it takes at most 0" in error["message"]
    assert too_fine.status_code == 422 and "1080p" in too_fine.text
    [model] = [m for m in models if m["id"] == MODEL]
    assert model["engine"] == "upstream" and model["resolutions"] == ["480p", "720p"]
    assert model["details"]["upstreams"][0]["accepts"]["max_audios"] == 0
    assert omni.creates == []


def test_ark_as_a_pool_provider_relays_with_the_relay_payload(
        tmp_path: Path, refs: str, media: dict[str, Path]) -> None:
    from tests.support.fakes.ark import FakeArk

    with FakeArk(video=media["result"].read_bytes()) as ark:
        ark.plan(queued_ms=30, running_ms=300)
        seedance = upstream("ark", "ark", ark.base_url, api_key="x", model="dreamina-seedance-2-0-260128",
                            family="seedance")
        for deployment in deploy(tmp_path, seedance):
            with client_for(deployment) as client:
                task = wait_terminal(client, submit(client, body(refs)), timeout_s=120)
                check_result(client, task, tmp_path)
    [create] = ark.creates
    assert create["model"] == "dreamina-seedance-2-0-260128"
    assert [item["type"] for item in create["content"]] == ["text", *["image_url"] * 3, "video_url", "audio_url"]


def test_sglang_multipart_with_the_operators_request_table(
        tmp_path: Path, sglang: FakeSGLang) -> None:
    wan = upstream("wan", "sglang", sglang.url, family="wan", serves=[TEXT], submit="multipart",
                   request={"size": "64x64", "num_inference_steps": 2})
    for deployment in deploy(tmp_path, wan):
        with client_for(deployment) as client:
            task = wait_terminal(client, submit(client, text_body()), timeout_s=120)
            check_result(client, task, tmp_path, audio=False)
    [job] = sglang.creates
    assert job.files == [] and job.fields["size"] == "64x64" and job.fields["num_inference_steps"] == "2"
    assert job.fields["seconds"] == "4" and job.fields["prompt"] == "a lighthouse at dusk, waves"
    assert "model" not in job.fields and "conditions" not in job.fields

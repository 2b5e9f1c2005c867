"""The relay engine against the fake Ark: lifecycle, resume, cancellation, failures (engine level)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from refvid.config import Settings
from refvid.engines.relay.engine import MAX_SUBMISSIONS, RelayEngine
from refvid.errors import Cancelled, TaskFailure
from refvid.media.info import Reference
from tests.support import media_factory as mf
from tests.support.fakes.ark import FakeArk
from tests.support.fakes.engine_ctx import FakeContext
from tests.support.relay import make_job, ref


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("relay-media")
    return {
        "image": mf.make_image(folder / "char.png", 800, 600, seed=3),
        "image2": mf.make_image(folder / "prop.jpg", 600, 600, seed=4),
        "video": mf.make_video(folder / "motion.mp4", 320, 240, seconds=2.5),
        "audio": mf.make_wav(folder / "music.wav", seconds=3.0),
    }


@pytest.fixture(scope="module")
def provider_video(media: dict[str, Path]) -> bytes:
    return mf.make_video(media["video"].with_name("provider.mp4"), 320, 240, seconds=2.0, with_audio=True).read_bytes()


@pytest.fixture
def ark(provider_video: bytes) -> Iterator[FakeArk]:
    with FakeArk(video=provider_video) as fake:
        yield fake


def relay_settings(tmp_path: Path, ark: FakeArk, **changes: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "ark_api_key": "x", "ark_base_url": ark.base_url,
                              "ark_poll_interval_s": 0.02, "ark_poll_max_interval_s": 0.05, **changes}
    return Settings(**values)


def standard_refs(media: dict[str, Path]) -> list[Reference]:
    return [ref("image", 0, media["image"], "https://cdn.example.com/char.png"),
            ref("video", 0, media["video"], "https://cdn.example.com/motion.mp4"),
            ref("audio", 0, media["audio"], "https://cdn.example.com/music.wav")]


def test_full_lifecycle(tmp_path: Path, ark: FakeArk, media: dict[str, Path]) -> None:
    ark.plan(seed=777, duration=6, ratio="4:3", running_ms=1000)  # long enough to be seen running under load
    ctx = FakeContext({"seed": 42})
    out = RelayEngine(relay_settings(tmp_path, ark)).generate(make_job(tmp_path, standard_refs(media)), ctx)

    [body] = ark.creates
    assert body["model"] == "dreamina-seedance-2-0-260128"
    assert body["content"][0] == {"type": "text", "text": "Image 1 dances to Audio 1"}
    assert [(c["type"], c.get("role")) for c in body["content"][1:]] == [
        ("image_url", "reference_image"), ("video_url", "reference_video"), ("audio_url", "reference_audio")]
    assert body["content"][1]["image_url"]["url"] == "https://cdn.example.com/char.png"
    assert {k: body[k] for k in ("resolution", "ratio", "duration", "generate_audio", "seed", "watermark")} == {
        "resolution": "720p", "ratio": "4:3", "duration": 5, "generate_audio": True, "seed": 42,
        "watermark": False}
    # the upstream id is the first thing saved; the seed the worker drew is kept
    upstream_id = next(iter(ark.tasks))
    assert ctx.saved[0] == {"seed": 42, "upstream_task_id": upstream_id, "upstream_status": "queued",
                            "upstream_model": "dreamina-seedance-2-0-260128", "submissions": 1,
                            "cancellable": True}
    assert any(s.get("cancellable") is False and s["upstream_status"] == "running" for s in ctx.saved)
    assert out.video_path == tmp_path / "work" / "output.mp4" and out.video_path.stat().st_size > 1000
    assert (out.seed, out.duration_s, out.fps) == (777, 6.0, 24)
    assert (out.width, out.height, out.has_audio) == (320, 240, True)  # what the file really is
    assert out.thumbnail_path is not None and out.thumbnail_path.stat().st_size > 0
    assert out.extra["upstream_task_id"] == upstream_id and out.extra["ratio"] == "4:3"
    assert ctx.progress_values == sorted(ctx.progress_values) and ctx.progress_values[-1] == 100
    api_calls = [r for r in ark.requests if r.path.startswith("/api/")]
    assert all(r.headers["authorization"] == "Bearer x" for r in api_calls)
    [download] = [r for r in ark.requests if r.path.startswith("/videos/")]
    assert "authorization" not in download.headers  # presigned URL: our key never leaves for it


def test_resume_polls_the_saved_upstream_task_and_never_submits_again(tmp_path: Path, ark: FakeArk,
                                                                      media: dict[str, Path]) -> None:
    engine = RelayEngine(relay_settings(tmp_path, ark))
    ark.plan(queued_ms=0, running_ms=1500)
    job = make_job(tmp_path, standard_refs(media))
    first = FakeContext({"seed": 1})
    first.cancel_when = lambda ctx: ctx.state.get("upstream_status") == "running"
    with pytest.raises(Cancelled):  # the worker stops (shutdown, lost lease) while the provider generates
        engine.generate(job, first)
    upstream_id = first.state["upstream_task_id"]
    ark.tasks[upstream_id].created_at = time.monotonic()  # still running when the re-claimed task looks, however slow
    second = FakeContext(first.state)  # what the re-claimed task finds in its engine state
    out = engine.generate(job, second)
    assert len(ark.creates) == 1 and ark.calls("DELETE") == []
    assert all(r.path.endswith(upstream_id) for r in ark.calls("GET"))
    assert out.extra["upstream_task_id"] == upstream_id
    assert second.saved[0]["cancellable"] is False  # the new lease learns at once that it cannot cancel


def test_cancel_while_queued_deletes_upstream(tmp_path: Path, ark: FakeArk, media: dict[str, Path]) -> None:
    ark.plan(hold=True)
    ctx = FakeContext({"seed": 1})
    ctx.cancel_when = lambda c: len(ark.calls("GET")) >= 2
    with pytest.raises(Cancelled):
        RelayEngine(relay_settings(tmp_path, ark)).generate(make_job(tmp_path, standard_refs(media)), ctx)
    [delete] = ark.calls("DELETE")
    upstream_id = ctx.saved[0]["upstream_task_id"]
    assert delete.path.endswith(upstream_id) and ark.status(upstream_id) == "cancelled"
    assert ctx.state["upstream_status"] == "cancelled"


def test_worker_shutdown_leaves_the_upstream_task_to_the_next_attempt(tmp_path: Path, ark: FakeArk,
                                                                     media: dict[str, Path]) -> None:
    engine = RelayEngine(relay_settings(tmp_path, ark))
    ark.plan(queued_ms=300, running_ms=0)
    ctx = FakeContext({"seed": 1})
    ctx.reason = "shutdown"
    ctx.cancel_when = lambda c: len(ark.calls("GET")) >= 1
    job = make_job(tmp_path, standard_refs(media))
    with pytest.raises(Cancelled):
        engine.generate(job, ctx)
    assert ark.calls("DELETE") == []
    out = engine.generate(job, FakeContext(ctx.state))  # the next attempt resumes the same upstream task
    assert len(ark.creates) == 1 and out.extra["upstream_task_id"] == ctx.saved[0]["upstream_task_id"]


def test_resumed_after_our_queued_cancel_submits_a_fresh_task(tmp_path: Path, ark: FakeArk,
                                                              media: dict[str, Path]) -> None:
    engine = RelayEngine(relay_settings(tmp_path, ark))
    ark.plan_next(hold=True)
    ctx = FakeContext({"seed": 1})
    ctx.cancel_when = lambda c: len(ark.calls("GET")) >= 1
    job = make_job(tmp_path, standard_refs(media))
    with pytest.raises(Cancelled):  # e.g. the worker handed the task back while it was queued upstream
        engine.generate(job, ctx)
    out = engine.generate(job, FakeContext(ctx.state))
    assert len(ark.creates) == 2 and out.extra["upstream_task_id"] != ctx.saved[0]["upstream_task_id"]


def test_cancel_while_running_does_not_delete(tmp_path: Path, ark: FakeArk, media: dict[str, Path]) -> None:
    ark.plan(queued_ms=0, running_ms=60_000)
    ctx = FakeContext({"seed": 1})
    ctx.cancel_when = lambda c: c.state.get("cancellable") is False
    with pytest.raises(Cancelled):
        RelayEngine(relay_settings(tmp_path, ark)).generate(make_job(tmp_path, standard_refs(media)), ctx)
    assert ark.calls("DELETE") == []
    assert ctx.state["upstream_status"] == "running" and ctx.state["cancellable"] is False


def test_upstream_cancelled_elsewhere_is_resubmitted_a_bounded_number_of_times(
        tmp_path: Path, ark: FakeArk, media: dict[str, Path]) -> None:
    engine = RelayEngine(relay_settings(tmp_path, ark))
    original_create = ark._create

    def create_and_cancel(body: Any) -> str:
        task_id = original_create(body)
        ark.tasks[task_id].cancelled = True  # someone cancels it in the Ark console
        return task_id

    ark._create = create_and_cancel  # type: ignore[method-assign]
    with pytest.raises(TaskFailure) as failure:
        engine.generate(make_job(tmp_path, standard_refs(media)), FakeContext({"seed": 1}))
    assert failure.value.code == "upstream_error"
    assert len(ark.creates) == MAX_SUBMISSIONS


@pytest.mark.parametrize(("plan", "code", "text"), [
    ({"outcome": "failed", "error_code": "OutputVideoSensitiveContentDetected"}, "upstream_rejected",
     "OutputVideoSensitiveContentDetected"),
    ({"outcome": "failed", "error_code": "InternalServiceError"}, "upstream_error", "InternalServiceError"),
    ({"outcome": "expired"}, "upstream_error", "expired"),
])
def test_upstream_failures_map_to_spec_codes(tmp_path: Path, ark: FakeArk, media: dict[str, Path],
                                             plan: dict[str, Any], code: str, text: str) -> None:
    ark.plan(**plan)
    with pytest.raises(TaskFailure) as failure:
        RelayEngine(relay_settings(tmp_path, ark)).generate(make_job(tmp_path, standard_refs(media)),
                                                            FakeContext({"seed": 1}))
    assert failure.value.code == code and text in failure.value.message


def test_create_refused_and_bad_key(tmp_path: Path, ark: FakeArk, media: dict[str, Path]) -> None:
    job = make_job(tmp_path, [ref("audio", 0, media["audio"], "https://cdn.example.com/a.wav")])
    with pytest.raises(TaskFailure) as refused:  # audio alone: Ark refuses the input
        RelayEngine(relay_settings(tmp_path, ark)).generate(job, FakeContext())
    assert refused.value.code == "upstream_rejected" and "InvalidParameter.content" in refused.value.message
    with pytest.raises(TaskFailure) as unauthorized:
        RelayEngine(relay_settings(tmp_path, ark, ark_api_key="wrong")).generate(
            make_job(tmp_path, standard_refs(media)), FakeContext())
    assert unauthorized.value.code == "upstream_error" and "AuthenticationError" in unauthorized.value.message


def test_429_bursts_and_5xx_are_retried(tmp_path: Path, ark: FakeArk, media: dict[str, Path]) -> None:
    ark.throttle(3, retry_after="0", method="POST")
    ark.throttle(2, retry_after="0.2", method="GET")
    ark.fail_requests(2, status=503, method="GET")
    started = time.monotonic()
    out = RelayEngine(relay_settings(tmp_path, ark)).generate(make_job(tmp_path, standard_refs(media)),
                                                              FakeContext({"seed": 1}))
    assert out.video_path.exists()
    assert len(ark.calls("POST")) == 4 and len(ark.creates) == 4 and len(ark.tasks) == 1
    assert time.monotonic() - started >= 0.4  # both Retry-After: 0.2 were honoured


def test_retries_run_out(tmp_path: Path, ark: FakeArk, media: dict[str, Path]) -> None:
    ark.fail_requests(10, status=500, method="POST")
    with pytest.raises(TaskFailure) as failure:
        RelayEngine(relay_settings(tmp_path, ark, ark_max_retries=2)).generate(
            make_job(tmp_path, standard_refs(media)), FakeContext())
    assert failure.value.code == "upstream_error" and "InternalServiceError" in failure.value.message
    assert len(ark.calls("POST")) == 3 and ark.tasks == {}


def test_adaptive_and_auto_duration_pass_through(tmp_path: Path, ark: FakeArk, media: dict[str, Path]) -> None:
    engine = RelayEngine(relay_settings(tmp_path, ark))
    assert engine.choose_duration(standard_refs(media)) == -1
    base = make_job(tmp_path, standard_refs(media), duration=-1)
    job = dataclasses.replace(base, requested_ratio="adaptive")
    ark.plan(ratio="4:3", duration=8)
    out = engine.generate(job, FakeContext({"seed": 5}))
    assert (ark.creates[0]["ratio"], ark.creates[0]["duration"]) == ("adaptive", -1)
    assert (out.duration_s, out.extra["ratio"]) == (8.0, "4:3")


def test_first_and_last_frames_reach_ark_as_frame_roles(tmp_path: Path, ark: FakeArk,
                                                       media: dict[str, Path]) -> None:
    frames = [ref("image", 0, media["image"], "https://cdn.example.com/first.png"),
              ref("image", 1, media["image2"], "https://cdn.example.com/last.jpg")]
    job = make_job(tmp_path, frames, prompt="slow push in", model="seedance-2.0-fast-image-to-video")
    out = RelayEngine(relay_settings(tmp_path, ark)).generate(job, FakeContext({"seed": 5}))
    [body] = ark.creates
    assert body["model"] == "dreamina-seedance-2-0-fast-260128"
    assert [(c["type"], c.get("role")) for c in body["content"]] == [
        ("text", None), ("image_url", "first_frame"), ("image_url", "last_frame")]
    assert out.video_path.stat().st_size > 1000


def test_text_to_video_sends_the_prompt_alone(tmp_path: Path, ark: FakeArk) -> None:
    job = make_job(tmp_path, [], prompt="a lighthouse in a storm", model="seedance-2.0-text-to-video")
    RelayEngine(relay_settings(tmp_path, ark)).generate(job, FakeContext({"seed": 5}))
    [body] = ark.creates
    assert body["model"] == "dreamina-seedance-2-0-260128"
    assert body["content"] == [{"type": "text", "text": "a lighthouse in a storm"}]

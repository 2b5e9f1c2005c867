"""What the relay sends to Ark: model ids, prompt names, the content array, reference forms, error codes."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest

from refvid.config import Settings
from refvid.engines.output import OutputSpec
from refvid.engines.relay.payload import (
    STATUS_MAP,
    ark_model_for,
    build_request,
    failure_for,
    reference_url,
    rewrite_prompt,
)
from refvid.errors import TaskFailure
from refvid.tasks.model import TaskStatus
from tests.support import media_factory as mf
from tests.support.fakes.ark_contract import ArkReject, validate_create
from tests.support.relay import UPLOAD, make_job, ref

BIG = 10**9


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("payload-media")
    return {"png": mf.make_image(folder / "a.png", 400, 300), "jpg": mf.make_image(folder / "b.jpg", 320, 320),
            "mp4": mf.make_video(folder / "c.mp4", 320, 240, seconds=2.0),
            "wav": mf.make_wav(folder / "d.wav", seconds=3.0), "mp3": mf.make_mp3(folder / "e.mp3", seconds=3.0)}


def test_prompt_tokens_take_the_names_of_arks_prompt_guide() -> None:
    assert rewrite_prompt("@Image1 walks, @image2 waves; camera of @VIDEO1, music @Audio3") == (
        "Image 1 walks, Image 2 waves; camera of Video 1, music Audio 3")
    assert rewrite_prompt("@图像1 跳舞，参考@视频1 运镜，@音频1 作为背景音乐") == (
        "图片1 跳舞，参考视频1 运镜，音频1 作为背景音乐")
    assert rewrite_prompt("email me@example.com, no tokens here") == "email me@example.com, no tokens here"


def test_model_ids_per_region_and_overrides(tmp_path: Path) -> None:
    byteplus = Settings(data_dir=tmp_path)
    assert ark_model_for(byteplus, "seedance-2.0-reference-to-video") == "dreamina-seedance-2-0-260128"
    assert ark_model_for(byteplus, "seedance-2.0-fast-reference-to-video") == "dreamina-seedance-2-0-fast-260128"
    volc = Settings(data_dir=tmp_path, ark_base_url="https://ark.cn-beijing.volces.com/api/v3")
    assert ark_model_for(volc, "seedance-2.0-reference-to-video") == "doubao-seedance-2-0-260128"
    custom = Settings(data_dir=tmp_path, ark_models="seedance-2.0-fast-reference-to-video=ep-20260101-abc")
    assert ark_model_for(custom, "seedance-2.0-fast-reference-to-video") == "ep-20260101-abc"
    assert ark_model_for(custom, "seedance-2.0-reference-to-video") == "dreamina-seedance-2-0-260128"
    # one Ark id per tier serves every mode: the siblings go to the same model as their tier's reference model
    assert ark_model_for(byteplus, "seedance-2.0-fast-image-to-video") == "dreamina-seedance-2-0-fast-260128"
    assert ark_model_for(volc, "seedance-2.0-text-to-video") == "doubao-seedance-2-0-260128"
    with pytest.raises(TaskFailure):
        ark_model_for(byteplus, "a-plugin-model")


def test_our_uploads_and_data_urls_are_inlined_where_ark_takes_base64(files: dict[str, Path]) -> None:
    upload = ref("image", 0, files["png"], UPLOAD.format(name="a.png"))
    url = reference_url(upload, None, [BIG])
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == files["png"].read_bytes()
    jpeg_data = ref("image", 1, files["jpg"], "data:image/jpeg;base64,AAAA")
    assert reference_url(jpeg_data, None, [BIG]).startswith("data:image/jpeg;base64,")
    assert reference_url(ref("audio", 0, files["wav"], "data:audio/wav;base64,AAAA"), None, [BIG]).startswith(
        "data:audio/wav;base64,")
    assert reference_url(ref("audio", 1, files["mp3"], UPLOAD.format(name="e.mp3")), None, [BIG]).startswith(
        "data:audio/mp3;base64,")
    external = ref("image", 2, files["png"], "https://cdn.example.com/a.png?x=1")
    assert reference_url(external, None, [BIG]) == "https://cdn.example.com/a.png?x=1"


def test_videos_travel_by_url_only(files: dict[str, Path]) -> None:
    upload = ref("video", 0, files["mp4"], UPLOAD.format(name="c.mp4"))
    assert reference_url(upload, "https://videos.example.org/", [BIG]) == (
        "https://videos.example.org/v1/files/file-0123456789abcdef01234567/c.mp4?expires=9999999999&sig=abc")
    assert reference_url(upload, None, [BIG]) == upload.url  # the signed URL the client used
    with pytest.raises(TaskFailure) as refused:
        reference_url(ref("video", 1, files["mp4"], "data:video/mp4;base64,AAAA"), "https://x.example", [BIG])
    assert refused.value.code == "upstream_rejected" and "video_urls[1]" in refused.value.message


def test_the_inline_budget_keeps_the_request_under_arks_limit(files: dict[str, Path]) -> None:
    upload = ref("image", 0, files["png"], UPLOAD.format(name="a.png"))
    budget = [100]
    assert reference_url(upload, "https://pub.example", budget).startswith("https://pub.example/v1/files/")
    with pytest.raises(TaskFailure):
        reference_url(ref("image", 1, files["png"], "data:image/png;base64,AAAA"), None, budget)
    roomy = [BIG]
    reference_url(upload, None, roomy)
    assert roomy[0] == BIG - (upload.info.size_bytes + 2) // 3 * 4


def test_content_order_roles_and_parameters(tmp_path: Path, files: dict[str, Path]) -> None:
    refs = [ref("image", 0, files["png"], "https://h/a.png"), ref("image", 1, files["jpg"], "https://h/b.jpg"),
            ref("video", 0, files["mp4"], "https://h/c.mp4"), ref("audio", 0, files["wav"], "https://h/d.wav"),
            ref("audio", 1, files["mp3"], "https://h/e.mp3")]
    job = make_job(tmp_path, refs, prompt="@Image2 then @Image1", ratio="9:16", duration=12, audio=False, seed=9)
    body = build_request(job, "m", None)
    assert [c.get("role") for c in body["content"]] == [None, "reference_image", "reference_image",
                                                        "reference_video", "reference_audio", "reference_audio"]
    urls = [c[c["type"]]["url"] for c in body["content"][1:]]
    assert urls == ["https://h/a.png", "https://h/b.jpg", "https://h/c.mp4", "https://h/d.wav", "https://h/e.mp3"]
    assert body["content"][0]["text"] == "Image 2 then Image 1"
    assert {k: v for k, v in body.items() if k != "content"} == {
        "model": "m", "resolution": "720p", "ratio": "9:16", "duration": 12, "generate_audio": False,
        "seed": 9, "watermark": False}
    job_1080 = make_job(tmp_path, refs[:1])
    job_1080 = type(job_1080)(job_1080.task_id, job_1080.model, job_1080.prompt, job_1080.references,
                              OutputSpec.build("1080p", "21:9", 4, True, 0), job_1080.work_dir)
    assert build_request(job_1080, "m", None)["resolution"] == "1080p"


def test_every_ark_status_maps_to_a_wire_status() -> None:
    assert set(STATUS_MAP) == {"queued", "running", "succeeded", "failed", "expired", "cancelled"}
    assert set(STATUS_MAP.values()) <= {s.value for s in TaskStatus}


@pytest.mark.parametrize(("task", "code"), [
    ({"status": "failed", "error": {"code": "InputImageSensitiveContentDetected.PrivacyInformation"}},
     "upstream_rejected"),
    ({"status": "failed", "error": {"code": "InvalidParameter", "message": "bad ratio"}}, "upstream_rejected"),
    ({"status": "failed", "error": {"code": "InternalServiceError"}}, "upstream_error"),
    ({"status": "failed", "error": None}, "upstream_error"),
    ({"status": "expired"}, "upstream_error"),
    ({"status": "cancelled"}, "upstream_error"),
])
def test_upstream_task_errors(task: dict[str, object], code: str) -> None:
    failure = failure_for({"id": "cgt-1", **task})
    assert failure.code == code and "cgt-1" in failure.message


def test_text_only_and_first_last_frame_content(tmp_path: Path, files: dict[str, Path]) -> None:
    text = build_request(make_job(tmp_path, [], prompt="a calm sea", model="seedance-2.0-text-to-video"), "m", None)
    assert text["content"] == [{"type": "text", "text": "a calm sea"}]
    frames = [ref("image", 0, files["png"], "https://h/a.png"), ref("image", 1, files["jpg"], "https://h/b.jpg")]
    body = build_request(make_job(tmp_path, frames, prompt="", model="seedance-2.0-fast-image-to-video"), "m", None)
    assert [(c["type"], c["role"], c["image_url"]["url"]) for c in body["content"]] == [
        ("image_url", "first_frame", "https://h/a.png"), ("image_url", "last_frame", "https://h/b.jpg")]
    validate_create(body)  # what the fake Ark enforces of Ark's documented rules
    first_only = build_request(make_job(tmp_path, frames[:1], prompt="pan left",
                                        model="seedance-2.0-image-to-video"), "m", None)
    assert [c.get("role") for c in first_only["content"]] == [None, "first_frame"]
    validate_create(first_only)


def test_every_parameter_ark_takes_is_forwarded_as_asked(tmp_path: Path, files: dict[str, Path]) -> None:
    """The queue, safety and wire flags go as the request set them; Seedance 2.5's two untyped fields go as the
    official SDKs send `extra_body` (top level, left out at their defaults); the fake Ark's contract holds."""
    refs = [ref("image", 0, files["png"], "https://h/a.png"), ref("audio", 0, files["wav"], "https://h/d.wav")]
    job = dataclasses.replace(make_job(tmp_path, refs, model="seedance-2.5-reference-to-video"), passthrough=(
        ("camera_fixed", True), ("execution_expires_after", 7200), ("priority", 4), ("return_last_frame", True),
        ("safety_identifier", "user-42"), ("service_tier", "flex"), ("watermark", True)))
    body = build_request(job, "dreamina-seedance-2-5-260628", None)
    assert {k: body[k] for k in ("camera_fixed", "execution_expires_after", "priority", "return_last_frame",
                                 "safety_identifier", "service_tier", "watermark")} == dict(job.passthrough)
    assert "omni_reference_task_type" not in body and "output_format" not in body  # auto, mp4: left out
    validate_create(body)
    # Where the worker sets them (EngineInput.task_type, OutputSpec.container), they travel as extra fields.
    object.__setattr__(job, "task_type", "extend")
    object.__setattr__(job.output, "container", "mov")
    body = build_request(job, "dreamina-seedance-2-5-260628", None)
    assert (body["omni_reference_task_type"], body["output_format"]) == ("extend", "mov")
    validate_create(body)
    with pytest.raises(ArkReject) as refused:  # the fake holds a 2.0 model to what 2.0 takes
        validate_create({**body, "model": "dreamina-seedance-2-0-260128"})
    assert refused.value.code.startswith("InvalidParameter")
    with pytest.raises(ArkReject):
        validate_create({**body, "execution_expires_after": 60})

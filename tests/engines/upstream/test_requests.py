"""What the providers send (engines/upstream/providers): vLLM-Omni's `data:` URL reference lists and H3's
first/last-frame task, SGLang's multipart `extra_body`, and the operator's `[upstream.request]` table merged on
top (vLLM-Omni's `extra_params` key by key). Requests are built, not sent: the acceptance tests send them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from refvid.engines.upstream.config import UpstreamConfig
from refvid.engines.upstream.providers.sglang import SGLANG
from refvid.engines.upstream.providers.vllm_omni import VLLM_OMNI
from refvid.engines.upstream.transport import UpstreamHttp
from tests.support import media_factory as mf
from tests.support.relay import make_job, ref
from tests.support.upstreams import upstream


def http_for(provider: str, **more: Any) -> UpstreamHttp:
    return UpstreamHttp(UpstreamConfig.model_validate(upstream("u", provider, "http://127.0.0.1:9", **more)))


def fields_of(parts: list[tuple[str, Any]]) -> dict[str, str]:
    return {name: value[1] for name, value in parts if value[0] is None}


def test_vllm_omni_data_url_lists_keep_the_model_order_and_merge_extra_params(tmp_path: Path) -> None:
    images = [ref("image", i, mf.make_image(tmp_path / f"i{i}.png", 320, 240, seed=i), f"http://x/{i}.png")
              for i in range(2)]
    song = ref("audio", 0, mf.make_wav(tmp_path / "s.wav", seconds=2.0), "http://x/s.wav")
    http = http_for("vllm-omni", family="minimax-h3", references="data-urls", model="H3",
                    request={"num_inference_steps": 8, "extra_params": {"audio_flow_shift": 3}})
    parts = VLLM_OMNI.form(http, make_job(tmp_path, [song, *images], prompt="@Image2 then @Image1 to @Audio1"))
    fields = fields_of(parts)
    assert [name for name, _ in parts if name.endswith("_reference")] == ["image_reference", "audio_reference"]
    pictures = json.loads(fields["image_reference"])
    assert [base64.b64decode(p["image_url"].split(",", 1)[1]) for p in pictures] == [
        (tmp_path / "i0.png").read_bytes(), (tmp_path / "i1.png").read_bytes()]
    assert json.loads(fields["audio_reference"])[0]["audio_url"].startswith("data:audio/wav;base64,")
    assert json.loads(fields["extra_params"]) == {"task": "ref2va", "duration": 5.0, "audio_flow_shift": 3}
    assert fields["num_inference_steps"] == "8" and fields["prompt"] == "<Picture 2> then <Picture 1> to <Audio 1>"
    assert not any(name == "input_references" for name, _ in parts)


def test_h3_first_and_last_frame_is_fl2va(tmp_path: Path) -> None:
    frames = [ref("image", i, mf.make_image(tmp_path / f"f{i}.png", 320, 240, seed=i), f"http://x/{i}.png")
              for i in range(2)]
    job = make_job(tmp_path, frames, prompt="a slow dolly", model="seedance-2.0-image-to-video")
    omni = fields_of(VLLM_OMNI.form(http_for("vllm-omni", family="minimax-h3"), job))
    assert json.loads(omni["extra_params"])["task"] == "fl2va"
    assert json.loads(omni["extra_params"])["frame_indices"] == [0, -1]
    body = SGLANG.body(http_for("sglang", family="minimax-h3"), job)
    assert body["task"] == "fl2va"
    assert [(c["role"], c["frame_index"]) for c in body["conditions"]] == [("keyframe", 0), ("keyframe", -1)]


def test_sglang_multipart_puts_h3_objects_in_extra_body(tmp_path: Path) -> None:
    image = ref("image", 0, mf.make_image(tmp_path / "i.png", 320, 240), "http://x/i.png")
    job = make_job(tmp_path, [image], prompt="@Image1 waves")
    http = http_for("sglang", family="minimax-h3", request={"guidance_scale": 4.5})
    parts = SGLANG.form(job, SGLANG.body(http, job))
    fields = fields_of(parts)
    extra = json.loads(fields["extra_body"])
    assert set(extra) == {"task", "conditions", "target"} and extra["conditions"][0]["type"] == "image"
    assert fields["guidance_scale"] == "4.5" and fields["seconds"] == "5"
    assert not any(value[0] for _, value in parts)  # no file: H3 takes its references as conditions

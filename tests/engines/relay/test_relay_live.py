"""A live smoke test of the relay against the real Ark API (BytePlus ModelArk or Volcengine Ark).

Skipped unless REFVID_ARK_API_KEY is set; it generates one short, cheap clip (fast model, 480p, 4 s, no audio)
and therefore costs real money. Run it with `pytest -m live tests/engines/relay/test_relay_live.py`.
REFVID_ARK_BASE_URL / REFVID_ARK_MODELS choose the region and model ids; REFVID_LIVE_MODEL the model
(default: the fast model).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from refvid.config import Settings
from refvid.engines.base import EngineInput
from refvid.engines.output import OutputSpec
from refvid.engines.relay.engine import RelayEngine
from refvid.media.info import Reference
from refvid.media.probe import probe
from tests.support import media_factory as mf
from tests.support.fakes.engine_ctx import FakeContext

pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(not os.environ.get("REFVID_ARK_API_KEY"), reason="REFVID_ARK_API_KEY is not set"),
]


def test_one_short_clip_end_to_end(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")  # REFVID_ARK_* from the environment
    image = mf.make_image(tmp_path / "subject.png", 832, 480, seed=11, tint=(200, 120, 40))
    data_url = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
    reference = Reference("image", 0, data_url, image, probe(image, "image", "image_urls[0]"))
    work = tmp_path / "work"
    work.mkdir()
    model = os.environ.get("REFVID_LIVE_MODEL", "seedance-2.0-fast-reference-to-video")
    job = EngineInput("task-unified-0-livetest", model,
                      "The colourful pattern of @Image1 slowly swirls, gentle camera push-in",
                      [reference], OutputSpec.build("480p", "16:9", 4, False, 12345), work)
    ctx = FakeContext({"seed": 12345})
    out = RelayEngine(settings).generate(job, ctx)
    assert ctx.saved[0]["upstream_task_id"].startswith("cgt-")
    info = probe(out.video_path, "video", "result")
    assert info.has_video and info.width > 0 and info.duration_s > 1.5
    assert out.duration_s >= 3 and out.extra["upstream_task_id"] == ctx.saved[0]["upstream_task_id"]
    assert ctx.progress_values[-1] == 100

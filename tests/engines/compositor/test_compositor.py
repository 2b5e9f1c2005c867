"""The compositor engine: wiring, the output contract at every size, determinism, audio on/off, progress and
cancellation. Acceptance on content (look, motion, sound, cuts) is in test_compositor_acceptance.py.
The helpers shared by the compositor tests are in tests/support/compositor.py.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from refvid.engines.base import Engine
from refvid.engines.compositor.engine import CompositorEngine
from refvid.engines.output import RATIOS, RESOLUTIONS, SIZES
from refvid.errors import Cancelled
from tests.support.compositor import decode_audio, decode_frames, probe_ref, run_engine
from tests.support.fakes.engine_ctx import FakeContext
from tests.support.media_factory import make_image, make_video, make_wav


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("compositor-media")
    return {"image": make_image(d / "image.png", 640, 480, seed=3),
            "portrait": make_image(d / "portrait.jpg", 360, 640, seed=4),
            "video": make_video(d / "video.mp4", 320, 180, seconds=2.0),
            "audio": make_wav(d / "audio.wav", seconds=3.0, onsets_s=(0.5, 1.5, 2.5))}


# -- wiring and the output contract -----------------------------------------------------------------------


def test_engine_wiring(media: dict[str, Path]) -> None:
    engine = CompositorEngine(None)
    assert isinstance(engine, Engine)
    assert (engine.name, engine.resolutions, engine.supports_audio) == ("compositor", RESOLUTIONS, True)
    assert engine.choose_duration([probe_ref("image", media["image"])]) == 5
    assert engine.choose_duration([probe_ref("audio", media["audio"])]) == 4  # 3 s clamps to 4
    assert engine.choose_duration([probe_ref("video", media["video"]), probe_ref("video", media["video"], 1)]) == 4


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("ratio", RATIOS)
def test_every_contract_size(tmp_path: Path, media: dict[str, Path], resolution: str, ratio: str) -> None:
    out = run_engine(tmp_path, [probe_ref("image", media["portrait"])], "@Image1", resolution=resolution,
                     ratio=ratio, duration=1, audio=False)
    width, height = SIZES[resolution][ratio]
    assert (out.width, out.height, out.fps, out.has_audio) == (width, height, 24, False)
    with av.open(str(out.video_path)) as c:
        stream = c.streams.video[0]
        assert (stream.codec_context.name, stream.format.name, stream.width, stream.height) == (
            "h264", "yuv420p", width, height)
        assert stream.average_rate == 24 and not c.streams.audio
        assert sum(1 for _ in c.decode(video=0)) == 24


def test_container_is_faststart_with_audio_and_a_thumbnail(tmp_path: Path, media: dict[str, Path]) -> None:
    out = run_engine(tmp_path, [probe_ref("image", media["image"])], duration=2, audio=True)
    assert out.video_path == tmp_path / "output.mp4" and out.has_audio
    data = out.video_path.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    with av.open(str(out.video_path)) as c:
        assert c.streams.audio[0].codec_context.name == "aac" and c.streams.audio[0].sample_rate == 48000
        assert sum(1 for _ in c.decode(video=0)) == 48
    assert out.thumbnail_path is not None
    with Image.open(out.thumbnail_path) as thumb:
        assert thumb.format == "JPEG" and thumb.width > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.mp4", "thumbnail.jpg"]
    assert json.loads(json.dumps(out.extra))["shots"][0]["source"] == "@Image1"  # the result stores it as JSON


def test_same_seed_same_frames_and_samples_other_seed_differs(tmp_path: Path, media: dict[str, Path]) -> None:
    refs = [probe_ref("image", media["image"]), probe_ref("video", media["video"]),
            probe_ref("audio", media["audio"])]
    prompt = "@Image1 with the camera motion of @Video1, music @Audio1"
    a = run_engine(tmp_path / "a", refs, prompt, seed=5)
    b = run_engine(tmp_path / "b", refs, prompt, seed=5)
    c = run_engine(tmp_path / "c", refs, prompt, seed=6)
    assert a.seed == 5 and c.seed == 6
    fa, fb, fc = (np.stack(decode_frames(o.video_path)) for o in (a, b, c))
    assert np.array_equal(fa, fb)
    assert np.array_equal(decode_audio(a.video_path)[0], decode_audio(b.video_path)[0])
    assert not np.array_equal(fa, fc)


def test_image_only_seeds_differ_and_ambience_follows_the_seed(tmp_path: Path, media: dict[str, Path]) -> None:
    refs = [probe_ref("image", media["image"])]
    a, b = (run_engine(tmp_path / str(s), refs, duration=4, seed=s) for s in (11, 12))
    assert a.extra["audio"] == "ambience"
    assert not np.array_equal(np.stack(decode_frames(a.video_path, 8)), np.stack(decode_frames(b.video_path, 8)))
    sa, sb = decode_audio(a.video_path)[0], decode_audio(b.video_path)[0]
    n = min(sa.shape[1], sb.shape[1])
    assert abs(np.corrcoef(sa[0, :n], sb[0, :n])[0, 1]) < 0.5


def test_no_audio_stream_when_generate_audio_is_false(tmp_path: Path, media: dict[str, Path]) -> None:
    refs = [probe_ref("image", media["image"]), probe_ref("audio", media["audio"])]
    out = run_engine(tmp_path, refs, audio=False, duration=2)
    assert not out.has_audio and out.extra["audio"] == "none"
    with av.open(str(out.video_path)) as c:
        assert len(c.streams.audio) == 0


def test_ambience_is_neither_silence_nor_a_steady_tone(tmp_path: Path, media: dict[str, Path]) -> None:
    out = run_engine(tmp_path, [probe_ref("image", media["image"])], duration=5)
    samples, rate = decode_audio(out.video_path)
    mono = samples.mean(axis=0)[: 5 * rate]
    assert np.sqrt((mono**2).mean()) > 0.005
    # Not a constant tone: loudness moves over time and the spectrum is not one line.
    blocks = mono[: len(mono) // rate * rate].reshape(-1, rate // 4)
    rms = np.sqrt((blocks**2).mean(axis=1))[2:-2]
    assert rms.std() / rms.mean() > 0.05
    spectrum = np.abs(np.fft.rfft(mono))
    assert spectrum.max() / spectrum.sum() < 0.05


def test_progress_is_monotonic_in_steps_of_at_most_5(tmp_path: Path, media: dict[str, Path]) -> None:
    ctx = FakeContext()
    refs = [probe_ref("image", media["image"]), probe_ref("video", media["video"]),
            probe_ref("audio", media["audio"])]
    run_engine(tmp_path, refs, "@Image1 following the camera of @Video1", ctx=ctx)
    values = [0.0, *ctx.progress_values]
    assert values[-1] == 100
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert max(b - a for a, b in itertools.pairwise(values)) <= 5


@pytest.mark.parametrize("at_pct", [1.0, 40.0])
def test_cancellation_stops_promptly_and_leaves_no_file(tmp_path: Path, media: dict[str, Path], at_pct: float) -> None:
    ctx = FakeContext(cancel_when=lambda c: c.last_progress >= at_pct)
    refs = [probe_ref("image", media["image"]), probe_ref("video", media["video"])]
    with pytest.raises(Cancelled):
        run_engine(tmp_path, refs, "@Image1 with the camera movement of @Video1", ctx=ctx)
    assert ctx.cancelled_at is not None
    after = [v for v in ctx.progress_values if v > ctx.cancelled_at]
    assert len(after) <= 1  # at most one more step of work (one frame) after the flag was set
    assert not (tmp_path / "output.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".mp4", ".part")]


def test_video_named_as_content_becomes_its_own_shot(tmp_path: Path, media: dict[str, Path]) -> None:
    refs = [probe_ref("image", media["image"]), probe_ref("video", media["video"])]
    out = run_engine(tmp_path, refs, "@Video1 of a street, then @Image1.", audio=False)
    assert [(s["source"], s["kind"]) for s in out.extra["shots"]] == [("@Video1", "video"), ("@Image1", "image")]
    frames = decode_frames(out.video_path)
    assert len(frames) == 96
    assert out.extra["motion"] == ["@Video1"]


def test_videos_alone_are_shown_as_footage(tmp_path: Path, media: dict[str, Path]) -> None:
    refs = [probe_ref("video", media["video"]), probe_ref("video", media["video"], 1)]
    out = run_engine(tmp_path, refs, "@Video2 then @Video1", ratio="9:16", audio=False)
    assert [s["source"] for s in out.extra["shots"]] == ["@Video2", "@Video1"]
    assert len(decode_frames(out.video_path, 1)) == 96

"""media/encode.py: the contract MP4 (codec, pix_fmt, size, frames, fps, audio, faststart), atomic writes,
deterministic frames, audio timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from refvid.media.encode import VideoWriter, encode_thumbnail, i420_to_rgb, rgb_to_i420
from tests.support.media_factory import clicks, textured_rgb


def _frames(width: int, height: int, n: int) -> list[np.ndarray]:
    plate = textured_rgb(width + 4 * n, height, seed=9)
    return [np.ascontiguousarray(plate[:, 4 * i:4 * i + width]) for i in range(n)]


def _probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        facts: dict[str, object] = {"codec": v.codec_context.name, "pix_fmt": v.format.name,
                                    "size": (v.width, v.height), "fps": v.average_rate,
                                    "audio": [(a.codec_context.name, a.sample_rate, a.channels)
                                              for a in c.streams.audio]}
        facts["frames"] = sum(1 for _ in c.decode(video=0))
    return facts


@pytest.mark.parametrize("size", [(1470, 630), (1112, 834), (834, 1112), (64, 48)])
def test_contract_mp4(tmp_path: Path, size: tuple[int, int]) -> None:
    w, h = size
    path = tmp_path / "out.mp4"
    with VideoWriter(path, w, h, 24, audio=True) as writer:
        for frame in _frames(w, h, 12):
            writer.write_frame(frame)
    facts = _probe(path)
    assert facts == {"codec": "h264", "pix_fmt": "yuv420p", "size": (w, h), "fps": 24,
                     "audio": [("aac", 48000, 2)], "frames": 12}
    data = path.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")  # +faststart


def test_no_audio_stream_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 64, 48) as writer:
        writer.write_frame(np.zeros((48, 64, 3), np.uint8))
        with pytest.raises(RuntimeError):
            writer.write_audio(np.zeros(100, np.float32))
    assert _probe(path)["audio"] == []


def test_all_three_frame_paths_give_the_same_video(tmp_path: Path) -> None:
    frames = _frames(96, 64, 6)
    outputs = []
    for mode in ("rgb", "i420", "planar"):
        path = tmp_path / f"{mode}.mp4"
        with VideoWriter(path, 96, 64, background=mode != "rgb") as writer:
            for rgb in frames:
                if mode == "rgb":
                    writer.write_frame(rgb)
                elif mode == "i420":
                    writer.write_frame_i420(rgb_to_i420(rgb))
                else:
                    planar = writer.new_frame()
                    i420 = rgb_to_i420(rgb)
                    planar.y[...] = i420[:64]
                    planar.u[...] = i420[64:80].reshape(32, 48)
                    planar.v[...] = i420[80:].reshape(32, 48)
                    writer.write_planar(planar)
        with av.open(str(path)) as c:
            outputs.append(np.stack([f.to_ndarray() for f in c.decode(video=0)]))
    assert np.array_equal(outputs[0], outputs[1]) and np.array_equal(outputs[1], outputs[2])
    decoded = av.VideoFrame.from_ndarray(outputs[0][0], format="yuv420p").to_ndarray(format="rgb24")
    assert np.abs(decoded.astype(int) - frames[0]).mean() < 12  # colours survive (BT.601 both ways)


def test_decoded_frames_are_identical_run_to_run(tmp_path: Path) -> None:
    # 320x180 showed x264's nondeterminism most often (with mbtree on); other encodes in between stir the heap.
    frames = _frames(320, 180, 24)
    decoded = []
    for k in range(6):
        path = tmp_path / f"{k}.mp4"
        with VideoWriter(path, 320, 180) as writer:
            for f in frames:
                writer.write_frame(f)
        with VideoWriter(tmp_path / "other.mp4", 160 + 32 * k, 96) as other:
            for f in _frames(160 + 32 * k, 96, 8):
                other.write_frame(f)
        with av.open(str(path)) as c:
            decoded.append(np.stack([f.to_ndarray() for f in c.decode(video=0)]))
    assert all(np.array_equal(decoded[0], d) for d in decoded[1:])


def test_another_process_decodes_to_the_same_frames(tmp_path: Path) -> None:
    script = (
        "import sys, numpy as np\n"
        "from refvid.media.encode import VideoWriter\n"
        "from tests.support.media_factory import textured_rgb\n"
        "plate = textured_rgb(1470 + 48, 630, seed=9)\n"
        "with VideoWriter(sys.argv[1], 1470, 630, audio=True) as w:\n"
        "    for i in range(12):\n"
        "        w.write_frame(np.ascontiguousarray(plate[:, 4 * i:4 * i + 1470]))\n"
    )
    decoded = []
    for k in range(2):
        path = tmp_path / f"{k}.mp4"
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, cwd=Path(__file__).parents[2])
        with av.open(str(path)) as c:
            decoded.append(np.stack([f.to_ndarray() for f in c.decode(video=0)]))
    assert np.array_equal(decoded[0], decoded[1])


def test_audio_keeps_its_timing_and_any_rate_or_layout(tmp_path: Path) -> None:
    source = clicks(2.0, (0.3, 1.2), sample_rate=48000)
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 64, 48, audio=True, sample_rate=48000) as writer:
        for i in range(48):
            writer.write_frame(np.zeros((48, 64, 3), np.uint8))
            writer.write_audio(np.stack([source, source])[:, i * 2000:(i + 1) * 2000])
    with av.open(str(path)) as c:
        out = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    n = len(source)
    assert out.shape[1] >= n
    assert np.corrcoef(out[0, :n], source)[0, 1] > 0.95  # no encoder delay left in the decoded signal

    # Mono and time-major input, at 24 kHz: resampled, padded to the video's length.
    with VideoWriter(tmp_path / "mono.mp4", 64, 48, audio=True, sample_rate=24000) as writer:
        for _ in range(24):
            writer.write_frame(np.zeros((48, 64, 3), np.uint8))
        writer.write_audio(np.zeros((12000, 2), np.float32))
        writer.write_audio(np.zeros(6000, np.float32))
    with av.open(str(tmp_path / "mono.mp4")) as c:
        assert (c.streams.audio[0].sample_rate, c.streams.audio[0].channels) == (48000, 2)
        assert sum(f.samples for f in c.decode(audio=0)) >= 48000


def test_failure_leaves_nothing_at_the_path(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(KeyError), VideoWriter(path, 64, 48, audio=True) as writer:
        writer.write_frame(np.zeros((48, 64, 3), np.uint8))
        raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        VideoWriter(path, 63, 48)
    with pytest.raises(ValueError), VideoWriter(path, 64, 48) as writer:
        writer.write_frame(np.zeros((48, 60, 3), np.uint8))  # wrong size
    with pytest.raises(ValueError, match="no frames"), VideoWriter(path, 64, 48):
        pass
    assert list(tmp_path.iterdir()) == []


def test_thumbnail_is_a_bounded_jpeg(tmp_path: Path) -> None:
    path = encode_thumbnail(textured_rgb(1280, 720), tmp_path / "thumb.jpg")
    with Image.open(path) as img:
        assert img.format == "JPEG" and img.size == (640, 360)
    full = encode_thumbnail(textured_rgb(200, 100), tmp_path / "small.jpg", max_side=None)
    with Image.open(full) as img:
        assert img.size == (200, 100)


def test_i420_round_trip() -> None:
    rgb = textured_rgb(64, 48)
    assert np.abs(i420_to_rgb(rgb_to_i420(rgb)).astype(int) - rgb).mean() < 12

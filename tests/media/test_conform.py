"""media/conform.py: whatever clip an upstream returns becomes the contract's exact MP4 (size, 24 fps, frame
count, AAC of the exact length or no audio), judged on decoded frames and samples."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from refvid.media.conform import conform_video
from tests.support import media_factory as mf
from tests.support.video_checks import assert_contract


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return float(samples / stream.rate)


def last_frames(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    return frames[-count:]


def test_a_short_small_clip_is_scaled_resampled_and_held_with_its_own_sound(tmp_path: Path) -> None:
    source = mf.make_video(tmp_path / "in.mp4", 64, 48, seconds=2.0, fps=16, with_audio=True)
    called: list[bool] = []

    def fallback() -> tuple[np.ndarray, int]:
        called.append(True)
        return np.zeros((2, 0), np.float32), 48_000

    made = conform_video(source, tmp_path / "out.mp4", tmp_path / "t.jpg", width=160, height=90, fps=24, frames=96,
                         audio=True, fallback_audio=fallback)
    assert_contract(tmp_path / "out.mp4", 160, 90, 4, has_audio=True)
    assert abs(audio_seconds(tmp_path / "out.mp4") - 4.0) < 0.05 and called == []
    assert (made.source_width, made.source_height, made.source_fps, made.source_has_audio) == (64, 48, 16.0, True)
    a, b = last_frames(tmp_path / "out.mp4", 2)  # past the source's 2 s its last frame is held
    assert np.abs(a - b).mean() < 2.0
    assert (tmp_path / "t.jpg").stat().st_size > 0


def test_a_long_silent_clip_is_cut_and_gets_the_fallback_sound_only_when_asked(tmp_path: Path) -> None:
    source = mf.make_video(tmp_path / "in.mp4", 320, 240, seconds=6.0, fps=30)
    bed = np.full((2, 4 * 48_000), 0.1, np.float32)
    conform_video(source, tmp_path / "a.mp4", tmp_path / "a.jpg", width=96, height=96, fps=24, frames=96,
                  audio=True, fallback_audio=lambda: (bed, 48_000))
    assert_contract(tmp_path / "a.mp4", 96, 96, 4, has_audio=True)
    conform_video(source, tmp_path / "b.mp4", tmp_path / "b.jpg", width=96, height=96, fps=24, frames=96,
                  audio=False, fallback_audio=lambda: (bed, 48_000))
    assert_contract(tmp_path / "b.mp4", 96, 96, 4, has_audio=False)


def test_in_container_remuxes_to_the_asked_container_without_reencoding(tmp_path: Path) -> None:
    """The worker's last step (`in_container`): an MP4 asked as MOV (and back) keeps every packet; a file
    already in the asked container is left alone."""
    from refvid.media.conform import container_of, in_container

    source = mf.write_video(tmp_path / "output.mp4", mf.camera_frames(320, 240, 24, mf.pan_zoom_rotate),
                            audio=mf.clicks(1.0, [0.5]))
    with av.open(str(source)) as original:
        packets = [(p.stream.type, bytes(p)) for p in original.demux() if p.dts is not None]
    mov = in_container(source, "mov")
    assert (mov.name, container_of(mov), source.exists()) == ("output.mov", "mov", False)
    with av.open(str(mov)) as remuxed:
        assert [(p.stream.type, bytes(p)) for p in remuxed.demux() if p.dts is not None] == packets
    assert in_container(mov, "mov") == mov  # already right: untouched
    back = in_container(mov, "mp4")
    assert (back.name, container_of(back)) == ("output.mp4", "mp4")

"""Format sniffing and decoding of reference files (all media generated here, nothing committed)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest

from refvid.errors import ReferenceFailure
from refvid.media.info import MediaKind
from refvid.media.probe import probe, sniff
from tests.support.media_factory import camera_frames, clicks, make_image, make_mp3, make_video, make_wav, write_video


def png_with_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR declares width×height but whose pixel data is a few bytes (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def failure(path: Path, kind: MediaKind) -> ReferenceFailure:
    with pytest.raises(ReferenceFailure) as info:
        probe(path, kind, f"{kind}_urls[1]")
    assert info.value.message.startswith(f"{kind}_urls[1]: ")
    return info.value


@pytest.mark.parametrize(("name", "fmt"), [("a.jpg", "jpeg"), ("a.png", "png"), ("a.webp", "webp")])
def test_images_report_format_and_pixel_size(tmp_path: Path, name: str, fmt: str) -> None:
    path = make_image(tmp_path / name, 420, 310)
    info = probe(path, "image", "image_urls[0]")
    assert (info.kind, info.format, info.width, info.height) == ("image", fmt, 420, 310)
    assert info.size_bytes == path.stat().st_size and info.duration_s == 0


def test_mp4_with_audio(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", 160, 96, seconds=2.0, with_audio=True)
    path = path.rename(tmp_path / "video.bin")  # the name says nothing
    info = probe(path, "video", "video_urls[0]")
    assert (info.format, info.video_codec, info.audio_codec) == ("mp4", "h264", "aac")
    assert (info.width, info.height, info.fps, info.has_video, info.has_audio) == (160, 96, 24.0, True, True)
    assert info.duration_s == pytest.approx(2.0, abs=0.05) and info.sample_rate == 44100


def test_mov_and_hevc(tmp_path: Path) -> None:
    mov = probe(make_video(tmp_path / "v.mov", 128, 96, seconds=2.0), "video", "video_urls[0]")
    assert (mov.format, mov.video_codec, mov.has_audio) == ("mov", "h264", False)
    frames = camera_frames(128, 96, 24, lambda t: (10 * t, 0.0, 0.0, 1.0))
    hevc = probe(write_video(tmp_path / "h.mp4", frames, fps=12, codec="libx265"), "video", "video_urls[0]")
    assert (hevc.format, hevc.video_codec, hevc.fps) == ("mp4", "hevc", 12.0)
    assert hevc.duration_s == pytest.approx(2.0, abs=0.1)


def test_audio_facts(tmp_path: Path) -> None:
    mp3 = probe(make_mp3(tmp_path / "a.mp3", seconds=3.0), "audio", "audio_urls[0]")
    assert (mp3.format, mp3.audio_codec, mp3.channels, mp3.sample_rate) == ("mp3", "mp3", 1, 44100)
    assert mp3.duration_s == pytest.approx(3.0, abs=0.1) and not mp3.has_video
    wav = probe(make_wav(tmp_path / "a.wav", seconds=2.5, sample_rate=16000), "audio", "audio_urls[0]")
    assert (wav.format, wav.sample_rate, wav.channels, wav.duration_s) == ("wav", 16000, 1, 2.5)


def test_sniff_ignores_names_and_knows_neighbours() -> None:
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff(b"\x00\x00\x00\x14ftypqt  ") == "mov"
    assert sniff(b"\x00\x00\x00\x1cftypisom") == "mp4"
    assert sniff(b"\x00\x00\x00\x1cftypheic") == "heif"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert sniff(b"ID3\x04") == "mp3" and sniff(b"\xff\xfb\x90") == "mp3" and sniff(b"\xff\xf1") == "aac"
    assert sniff(b"GIF89a") == "gif" and sniff(b"\x1aE\xdf\xa3") == "matroska"
    assert sniff(os.urandom(0)) is None and sniff(b"hello world") is None


def test_wrong_kind_and_unknown_bytes_are_unsupported(tmp_path: Path) -> None:
    mp3 = make_mp3(tmp_path / "really-an-mp3.png", seconds=1.0, onsets_s=[0.5])
    error = failure(mp3, "image")
    assert error.code == "reference_unsupported_format"
    assert error.message == "image_urls[1]: file is MP3 data, expected JPEG, PNG or WebP"
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    assert failure(noise, "video").code == "reference_unsupported_format"
    gif = tmp_path / "a.gif"
    make_image(gif.with_suffix(".png"), 320, 320)
    from PIL import Image
    Image.open(gif.with_suffix(".png")).save(gif, format="GIF")
    assert "GIF data" in failure(gif, "image").message
    assert failure(make_wav(tmp_path / "w.mp4", 1.0, onsets_s=[0.5]), "video").code == "reference_unsupported_format"


def test_truncated_files_are_invalid(tmp_path: Path) -> None:
    for name in ("v.mp4", "a.png", "a.jpg"):
        src = make_video(tmp_path / name, 128, 96, 2.0) if name.endswith("mp4") else make_image(tmp_path / name)
        data = src.read_bytes()
        cut = tmp_path / f"cut-{name}"
        cut.write_bytes(data[: len(data) // 2])
        error = failure(cut, "video" if name.endswith("mp4") else "image")
        assert error.code == "reference_invalid" and "corrupt or truncated" in error.message


def test_truncated_faststart_mp4_is_invalid(tmp_path: Path) -> None:
    src = make_video(tmp_path / "v.mp4", 128, 96, 2.0)
    fast = tmp_path / "fast.mp4"
    with av.open(str(src)) as inp, av.open(str(fast), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    assert probe(fast, "video", "v").duration_s == pytest.approx(2.0, abs=0.05)
    data = fast.read_bytes()
    fast.write_bytes(data[: len(data) * 2 // 3])  # the index (moov) survives, the frames do not
    error = failure(fast, "video")
    assert error.code == "reference_invalid" and "truncated" in error.message


def test_audio_only_mp4_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(clicks(1.0, [0.2]).reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    error = failure(path, "video")
    assert (error.code, error.message) == ("reference_invalid", "video_urls[1]: MP4 file has no video stream")


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (9000, 9000)])
def test_png_bombs_are_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    error = failure(png_with_header(tmp_path / "bomb.png", width, height), "image")
    assert error.code == "reference_invalid" and "decompression bomb" in error.message


def test_garbage_after_a_valid_signature_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(2000))
    assert failure(path, "video").code == "reference_invalid"
    png = png_with_header(tmp_path / "tiny.png", 400, 400)  # header fine, pixel data far too short
    assert failure(png, "image").code == "reference_invalid"

"""prepare_references: spec §3 limits, ordering, data:/upload URLs and the shared cache."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from refvid import contract
from refvid.errors import Cancelled, ReferenceFailure
from refvid.media.fetch import Fetcher
from refvid.media.info import MediaInfo, MediaKind
from refvid.media.refcache import RefCache
from refvid.media.references import check_reference, prepare_references
from tests.support.media_factory import (
    camera_frames,
    make_image,
    make_mp3,
    make_video,
    make_wav,
    wav_bytes,
    write_video,
)
from tests.support.media_servers import MediaServer, StubNet, settings

MB = contract.MB  # the unit the limits are stated in (10**6 bytes)



@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small, valid media of every accepted format (generated once for the module)."""
    d = tmp_path_factory.mktemp("media")
    return {
        "jpg": make_image(d / "a.jpg", 400, 300), "png": make_image(d / "a.png", 320, 480, seed=3),
        "webp": make_image(d / "a.webp", 600, 300), "mp4": make_video(d / "a.mp4", 96, 64, 2.5, with_audio=True),
        "mov": make_video(d / "a.mov", 64, 64, 2.0, fps=12), "mp3": make_mp3(d / "a.mp3", 2.0, onsets_s=[0.5]),
        "wav": make_wav(d / "a.wav", 1.5, onsets_s=[0.5], sample_rate=8000),
    }


def fetcher(tmp_path: Path, **overrides: object) -> Fetcher:
    return Fetcher(settings(tmp_path, **overrides))


def prepare_failure(tmp_path: Path, images: list[str] = [], videos: list[str] = [],  # noqa: B006
                    audios: list[str] = []) -> ReferenceFailure:  # noqa: B006
    with pytest.raises(ReferenceFailure) as info:
        prepare_references(images, videos, audios, tmp_path / "work", fetcher(tmp_path))
    return info.value


def test_every_format_passes_with_facts_in_order(tmp_path: Path, server: MediaServer,
                                                 media: dict[str, Path]) -> None:
    urls = {name: server.add_file(f"/{name}", path) for name, path in media.items()}
    refs = prepare_references([urls["jpg"], urls["png"], urls["webp"]], [urls["mp4"], urls["mov"]],
                              [urls["mp3"], urls["wav"]], tmp_path / "work", fetcher(tmp_path))
    assert [(r.kind, r.index, r.info.format) for r in refs] == [
        ("image", 0, "jpeg"), ("image", 1, "png"), ("image", 2, "webp"), ("video", 0, "mp4"),
        ("video", 1, "mov"), ("audio", 0, "mp3"), ("audio", 1, "wav")]
    assert [r.path.name for r in refs] == ["image_0.jpg", "image_1.png", "image_2.webp", "video_0.mp4",
                                          "video_1.mov", "audio_0.mp3", "audio_1.wav"]
    assert [r.label for r in refs][:4] == ["@Image1", "@Image2", "@Image3", "@Video1"]
    for ref, name in zip(refs, ["jpg", "png", "webp", "mp4", "mov", "mp3", "wav"], strict=True):
        assert ref.path.read_bytes() == media[name].read_bytes() and ref.info.size_bytes == ref.path.stat().st_size
    assert (refs[1].info.width, refs[1].info.height) == (320, 480)
    mp4 = refs[3].info
    assert (mp4.video_codec, mp4.has_audio, mp4.width, mp4.fps) == ("h264", True, 96, 24.0)
    assert mp4.duration_s == pytest.approx(2.5, abs=0.05) and refs[4].info.duration_s == pytest.approx(2.0)
    assert refs[5].info.duration_s == pytest.approx(2.0, abs=0.1) and refs[6].info.sample_rate == 8000
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == sorted(r.path.name for r in refs)


def image_file(tmp_path: Path, width: int, height: int) -> Path:
    path = tmp_path / f"{width}x{height}.png"
    Image.new("RGB", (width, height), (200, 40, 40)).save(path)
    return path


@pytest.mark.parametrize(("size", "message"), [
    ((6001, 3000), "image_urls[0]: width 6001 px exceeds 6000 px"),
    ((400, 299), "image_urls[0]: height 299 px is below 300 px"),
    ((300, 1000), "image_urls[0]: aspect ratio (width/height) 300/1000 = 0.30 is outside 0.4–2.5"),
    ((1260, 500), "image_urls[0]: aspect ratio (width/height) 1260/500 = 2.52 is outside 0.4–2.5"),
])
def test_image_pixel_rules(tmp_path: Path, size: tuple[int, int], message: str) -> None:
    data = image_file(tmp_path, *size).read_bytes()
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    error = prepare_failure(tmp_path, images=[url])
    assert (error.code, error.message) == ("reference_invalid", message)


def test_image_over_30_mb_is_refused_while_downloading(tmp_path: Path, server: MediaServer) -> None:
    big = image_file(tmp_path, 400, 400)
    with big.open("r+b") as f:
        f.truncate(31 * MB)  # a sparse 31 MB "PNG": nothing is encoded, nothing much is written
    server.add_file("/declared.png", big)
    server.add_file("/undeclared.png", big, content_length=False)
    error = prepare_failure(tmp_path, images=[server.url("/declared.png")])
    assert (error.code, error.message) == ("reference_too_large",
                                           "image_urls[0]: file is 31 MB, over the 30 MB limit")
    error = prepare_failure(tmp_path, images=[server.url("/undeclared.png")])
    assert (error.code, error.message) == ("reference_too_large", "image_urls[0]: file exceeds the 30 MB limit")


def test_bad_files_fail_with_their_field_and_index(tmp_path: Path, server: MediaServer,
                                                   media: dict[str, Path]) -> None:
    good = server.add_file("/good.jpg", media["jpg"])
    mp3_as_png = server.add_file("/photo.png", media["mp3"])
    error = prepare_failure(tmp_path, images=[good, mp3_as_png])
    assert (error.code, error.message) == ("reference_unsupported_format",
                                           "image_urls[1]: file is MP3 data, expected JPEG, PNG or WebP")
    noise = server.add_bytes("/noise", bytes(range(256)) * 8)
    assert prepare_failure(tmp_path, videos=[noise]).code == "reference_unsupported_format"
    data = media["mp4"].read_bytes()
    truncated = server.add_bytes("/cut.mp4", data[: len(data) // 2])
    error = prepare_failure(tmp_path, images=[good], videos=[server.url("/good.jpg"), truncated])
    assert error.message.startswith("video_urls[0]: file is JPEG data")
    error = prepare_failure(tmp_path, videos=[server.add_file("/v.mp4", media["mp4"]), truncated])
    assert error.code == "reference_invalid" and error.message.startswith("video_urls[1]: MP4 file is corrupt")


def test_video_rules(tmp_path: Path, server: MediaServer) -> None:
    short = server.add_file("/short.mp4", make_video(tmp_path / "short.mp4", 64, 64, 1.5, fps=8))
    error = prepare_failure(tmp_path, videos=[short])
    assert (error.code, error.message) == ("reference_invalid", "video_urls[0]: duration 1.5 s is below 2 s")
    urls = [server.add_file(f"/{i}.mp4", make_video(tmp_path / f"{i}.mp4", 64, 64, s, fps=8))
            for i, s in enumerate([6.0, 5.0, 5.0])]
    error = prepare_failure(tmp_path, videos=urls)
    assert (error.code, error.message) == ("reference_invalid", "video_urls: total duration 16.0 s exceeds 15 s")
    mpeg4 = tmp_path / "mpeg4.mp4"
    write_video(mpeg4, camera_frames(64, 64, 24, lambda t: (5 * t, 0.0, 0.0, 1.0)), fps=8, codec="mpeg4")
    error = prepare_failure(tmp_path, videos=[server.add_file("/m.mp4", mpeg4)])
    assert (error.code, error.message) == ("reference_unsupported_format",
                                           "video_urls[0]: video codec mpeg4 is not H.264 or H.265")


def test_audio_rules(tmp_path: Path, server: MediaServer) -> None:
    long_wav = wav_bytes(np.zeros(16 * 8000, dtype="float32"), 8000)
    error = prepare_failure(tmp_path, audios=[server.add_bytes("/long.wav", long_wav)])
    assert (error.code, error.message) == ("reference_invalid", "audio_urls[0]: duration 16.0 s exceeds 15 s")
    exact = make_mp3(tmp_path / "15s.mp3", 15.0, onsets_s=[1.0], sample_rate=8000)
    refs = prepare_references([], [], [server.add_file("/15.mp3", exact)], tmp_path / "w", fetcher(tmp_path))
    assert 15.0 <= refs[0].info.duration_s <= 15.2  # encoder padding, inside the documented tolerance


def info(kind: MediaKind, **facts: object) -> MediaInfo:
    return MediaInfo(kind=kind, format="mp3", size_bytes=1000, **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "duration_s", "ok"), [
    ("audio", 15.02, True), ("audio", 15.2, True), ("audio", 15.3, False), ("audio", 16.0, False),
    ("video", 1.9, True), ("video", 1.7, False),
])
def test_duration_tolerance(kind: MediaKind, duration_s: float, ok: bool) -> None:
    facts = info(kind, duration_s=duration_s, video_codec="h264")
    if ok:
        check_reference(kind, "x[0]", facts)
    else:
        with pytest.raises(ReferenceFailure):
            check_reference(kind, "x[0]", facts)


def test_counts_are_enforced_before_fetching(tmp_path: Path, server: MediaServer) -> None:
    error = prepare_failure(tmp_path, images=[server.url("/x")] * 10)
    assert error.message == "image_urls: 10 images exceed the limit of 9" and server.count() == 0


def test_first_failure_in_order_wins(tmp_path: Path, server: MediaServer, media: dict[str, Path]) -> None:
    slow_404 = server.add_status("/slow", 404, delay_s=0.4)
    fast_bad = server.add_bytes("/bad", b"not an image")
    error = prepare_failure(tmp_path, images=[slow_404, fast_bad])
    assert error.message == "image_urls[0]: server answered HTTP 404"


def test_data_and_upload_urls(tmp_path: Path, server: MediaServer, media: dict[str, Path]) -> None:
    data_url = "data:image/webp;base64," + base64.b64encode(media["webp"].read_bytes()).decode()
    own = "https://refvid.example/v1/files/file-1/content"
    hook_calls: list[str] = []

    def resolve(url: str) -> Path | None:
        hook_calls.append(url)
        return media["mp4"] if url == own else None

    refs = prepare_references([data_url], [own], [], tmp_path / "w", Fetcher(settings(tmp_path), resolve))
    assert [r.info.format for r in refs] == ["webp", "mp4"] and server.count() == 0
    assert hook_calls.count(own) == 1  # the hook may be costly (database, blob store): asked once


def test_upload_hook_errors_name_the_reference(tmp_path: Path) -> None:
    def expired(url: str) -> Path | None:
        raise ReferenceFailure("upload file-abc expired", code="reference_fetch_failed")

    with pytest.raises(ReferenceFailure) as error:
        prepare_references(["https://x.test/a.png"], [], [], tmp_path / "w", Fetcher(settings(tmp_path), expired))
    assert error.value.message == "image_urls[0]: upload file-abc expired"
    assert error.value.code == "reference_fetch_failed"


def test_cache_fetches_and_probes_once(tmp_path: Path, server: MediaServer, media: dict[str, Path]) -> None:
    now = [1000.0]
    cache = RefCache(tmp_path / "data" / "refcache", ttl_s=600, clock=lambda: now[0])
    url = server.add_file("/a.jpg", media["jpg"])
    data_url = "data:audio/wav;base64," + base64.b64encode(media["wav"].read_bytes()).decode()
    fetch = fetcher(tmp_path)
    first = prepare_references([url], [], [data_url], tmp_path / "w1", fetch, cache)
    second = prepare_references([url], [], [data_url], tmp_path / "w2", fetch, cache)
    assert server.count("/a.jpg") == 1
    assert [r.info for r in first] == [r.info for r in second]
    assert second[0].path.read_bytes() == media["jpg"].read_bytes() and second[0].path.parent.name == "w2"
    assert len(list(cache.root.glob("*.json"))) == 2
    now[0] += 601  # the http entry expires, the data: entry (content-addressed) does not
    prepare_references([url], [], [data_url], tmp_path / "w3", fetch, cache)
    assert server.count("/a.jpg") == 2
    now[0] += 30 * 24 * 3600
    assert cache.prune() == 4 and list(cache.root.iterdir()) == []


def test_cache_dedupes_concurrent_fetches_and_never_stores_failures(
        tmp_path: Path, server: MediaServer, media: dict[str, Path]) -> None:
    cache = RefCache.for_settings(settings(tmp_path))
    url = server.add_file("/slow.png", media["png"], delay_s=0.3)
    fetch = fetcher(tmp_path)
    threads = [threading.Thread(target=prepare_references, args=([url], [], [], tmp_path / f"w{i}", fetch, cache))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.count("/slow.png") == 1 and len(list(cache.root.glob("*.json"))) == 1
    net = StubNet({"evil.test": ["10.0.0.1"]})
    forbidden = Fetcher(settings(tmp_path), **net.kwargs())
    for _ in range(2):
        with pytest.raises(ReferenceFailure) as error:
            prepare_references(["http://evil.test/a.png"], [], [], tmp_path / "x", forbidden, cache)
        assert error.value.code == "reference_forbidden_host"
    assert net.resolved == ["evil.test", "evil.test"]  # checked every time: refusals are not cached
    assert len(list(cache.root.glob("*.json"))) == 1 and net.attempts == []


def test_cancellation(tmp_path: Path, server: MediaServer) -> None:
    url = server.add_drip("/drip", interval_s=0.05)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        prepare_references([url], [], [], tmp_path / "w", fetcher(tmp_path),
                           check_cancelled=lambda: time.monotonic() - started > 0.3)
    assert time.monotonic() - started < 1.5

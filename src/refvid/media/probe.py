"""What a downloaded reference really is: format from magic bytes, facts from decoding.

Names, extensions and Content-Type are never trusted. The demuxer is forced to the sniffed format so a hostile
file cannot make FFmpeg open something else (an HLS playlist pointing at internal URLs, say). Decoding is
bounded: images are checked for their declared pixel count before any pixel is decoded, and videos/audio
read at most `MAX_PACKETS` packets within `PROBE_TIME_LIMIT_S`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import av
from PIL import Image

from refvid.errors import ReferenceFailure
from refvid.media.info import MediaInfo, MediaKind

UNSUPPORTED, INVALID = "reference_unsupported_format", "reference_invalid"
MAX_DECODE_PIXELS = 64_000_000  # above the 6000×6000 rule, far below what would exhaust memory
MAX_PACKETS = 200_000  # 15 s of video at 240 fps plus audio is ~10k: this only stops hostile files
PROBE_TIME_LIMIT_S = 20.0
ACCEPTED: dict[MediaKind, tuple[str, ...]] = {
    "image": ("jpeg", "png", "webp"), "video": ("mp4", "mov"), "audio": ("mp3", "wav"),
}
NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "mp4": "MP4", "mov": "MOV", "mp3": "MP3", "wav": "WAV",
         "gif": "GIF", "bmp": "BMP", "tiff": "TIFF", "heif": "HEIF/AVIF", "matroska": "WebM/Matroska",
         "ogg": "Ogg", "flac": "FLAC", "avi": "AVI", "aac": "AAC (ADTS)", "pdf": "PDF"}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_DEMUXERS = {"mp4": "mov", "mov": "mov", "mp3": "mp3", "wav": "wav"}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff(head: bytes) -> str | None:
    """The container format of a file from its first bytes (32 are enough), or None if unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}[head[8:12]]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "mov" if brand == b"qt  " else "heif" if brand in _HEIF_BRANDS else "mp4"
    if head[4:8] in _QT_ATOMS:
        return "mov"  # classic QuickTime files may start without an ftyp atom
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync; layer bits 01 = Layer III, 00 = AAC in ADTS framing.
        return {1: "mp3", 0: "aac"}.get((head[1] >> 1) & 3)
    prefixes = {b"GIF8": "gif", b"BM": "bmp", b"II*\x00": "tiff", b"MM\x00*": "tiff", b"OggS": "ogg",
                b"\x1aE\xdf\xa3": "matroska", b"fLaC": "flac", b"%PDF": "pdf"}
    return next((fmt for prefix, fmt in prefixes.items() if head.startswith(prefix)), None)


def probe(path: Path, kind: MediaKind, label: str) -> MediaInfo:
    """Identify and decode `path` as a `kind` reference and return its facts.

    Raises ReferenceFailure: `reference_unsupported_format` when the bytes are not one of the formats
    accepted for `kind`, `reference_invalid` when they are but do not decode (corrupt, truncated, no video
    stream, decompression bomb).
    """
    size_bytes = path.stat().st_size
    with path.open("rb") as f:
        fmt = sniff(f.read(32))
    names = [NAMES[f] for f in ACCEPTED[kind]]
    expected = ", ".join(names[:-1]) + " or " + names[-1]
    if fmt not in ACCEPTED[kind]:
        what = f"{NAMES[fmt]} data" if fmt else "not a recognised media format"
        raise ReferenceFailure(f"{label}: file is {what}, expected {expected}", code=UNSUPPORTED)
    try:
        if kind == "image":
            return _probe_image(path, fmt, label, size_bytes)
        return _probe_av(path, kind, fmt, label, size_bytes)
    except ReferenceFailure:
        raise
    except Exception as exc:  # any decoder failure on untrusted bytes is the file's fault, never a crash
        detail = re.sub(r"^\[Errno -?\d+\] |: '/.*$", "", str(exc))[:120] or type(exc).__name__
        raise ReferenceFailure(f"{label}: {NAMES[fmt]} file is corrupt or truncated ({detail})",
                               code=INVALID) from exc


def _probe_image(path: Path, fmt: str, label: str, size_bytes: int) -> MediaInfo:
    try:
        with Image.open(path, formats=[_PIL_FORMATS[fmt]]) as img:
            width, height = img.size  # header only: nothing is decoded yet
            if width <= 0 or height <= 0 or width * height > MAX_DECODE_PIXELS:
                raise ReferenceFailure(
                    f"{label}: declared size {width}×{height} px is over the {MAX_DECODE_PIXELS:,} pixel "
                    "decode limit (possible decompression bomb)", code=INVALID)
            img.verify()  # structure and checksums (PNG CRCs), without pixels
        with Image.open(path, formats=[_PIL_FORMATS[fmt]]) as img:
            img.load()  # full decode: a truncated file fails here
    except Image.DecompressionBombError as exc:
        raise ReferenceFailure(f"{label}: declared pixel size is too large to decode (decompression bomb)",
                               code=INVALID) from exc
    return MediaInfo(kind="image", format=fmt, size_bytes=size_bytes, width=width, height=height)


def _probe_av(path: Path, kind: MediaKind, fmt: str, label: str, size_bytes: int) -> MediaInfo:
    with av.open(str(path), format=_DEMUXERS[fmt]) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        main = video if kind == "video" else audio
        if main is None:
            raise ReferenceFailure(f"{label}: {NAMES[fmt]} file has no {kind} stream", code=INVALID)
        packets, end_s, decoded = _scan(container, main, label)
        if not decoded:
            raise ReferenceFailure(f"{label}: no {kind} frame could be decoded", code=INVALID)
        if main.frames and packets < main.frames:
            raise ReferenceFailure(f"{label}: file is truncated ({packets} of {main.frames} frames present)",
                                   code=INVALID)
        declared_s = _duration_s(main, container)
        # Audio durations are often only estimated from the bitrate; trust whichever is longer.
        duration_s = max(declared_s, end_s) if kind == "audio" else (declared_s or end_s)
        common: dict[str, Any] = {"format": fmt, "size_bytes": size_bytes, "duration_s": round(duration_s, 3),
                                  "has_video": video is not None, "has_audio": audio is not None,
                                  "audio_codec": audio.codec_context.codec.canonical_name if audio else None}
        if audio is not None:
            common.update(sample_rate=audio.codec_context.sample_rate,
                          channels=audio.codec_context.layout.nb_channels)
        if kind == "audio":
            return MediaInfo(kind="audio", **common)
        assert video is not None  # main is video here
        rate = video.average_rate or video.guessed_rate
        return MediaInfo(kind="video", width=video.codec_context.width, height=video.codec_context.height,
                         fps=round(float(rate), 3) if rate else 0.0,
                         video_codec=video.codec_context.codec.canonical_name, **common)


def _duration_s(stream: Any, container: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else 0.0


def _scan(container: Any, stream: Any, label: str) -> tuple[int, float, bool]:
    """Demux every packet of `stream` (bounded) and decode until the first frame comes out.

    Returns (packet count, end time of the last packet in seconds, whether a frame decoded).
    """
    deadline = time.monotonic() + PROBE_TIME_LIMIT_S
    count, end_s, decoded = 0, 0.0, False
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's final flush packet
            continue
        count += 1
        if count > MAX_PACKETS or time.monotonic() > deadline:
            raise ReferenceFailure(f"{label}: file is too complex to probe", code=INVALID)
        if packet.pts is not None and packet.time_base:
            end_s = max(end_s, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        if not decoded and count <= 256:  # decoders may buffer a few packets (B-frames) before a frame
            decoded = bool(stream.codec_context.decode(packet))
    if not decoded and count:
        decoded = bool(stream.codec_context.decode(None))  # drain the decoder's delay buffer
    return count, end_s, decoded

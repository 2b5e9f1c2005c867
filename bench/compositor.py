"""Compositor speed and memory vs a plain PyAV libx264 encode of the same number of frames.

    .venv/bin/python bench/compositor.py [--durations 5 15] [--repeats 3] [--resolution 720p]

Workload per duration: 720p 16:9 with audio, three 1920×1080 JPEG images, one 6 s 640×360 reference video
(pan → zoom → rotate, motion replayed over the images) and one 8 s WAV (cuts on its onsets), graded by the
words of `--looks` (default: warm, high contrast and film grain, the costliest grade: three lookup tables
and a grain tile per frame; `--looks ""` for none).
Baselines, measured in the same run, each in a fresh process, alternating with the compositor, encode the
very frames the compositor produced (decoded into memory before their clock starts), with the same encoder
settings (preset, CRF, x264 params, sliced threads, keyint) into an MP4 with +faststart:
- `plain`: RGB arrays given to PyAV (`VideoFrame.from_ndarray(rgb, "rgb24")`, PyAV converts), no audio;
- `encode-only`: frames already in I420 (the encoder's floor), no audio.
The compositor's time includes everything: reference decoding, motion estimation, soundtrack, AAC, muxing.
Each process first does one short warm-up run (a 1 s task; a 1 s encode), as a worker's engine process is
kept warm between tasks.
Reported: median wall and CPU seconds, compositor/plain ratio of wall time (target ≤ 1.3; CPU-time ratio in
brackets, the steadier number on a shared machine), compositor/encode-only, peak RSS of the compositor (MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _make_references(folder: Path) -> None:
    from tests.support.media_factory import make_video, make_wav, textured_rgb, write_image

    for k in range(3):
        write_image(folder / f"image{k}.jpg", textured_rgb(1920, 1080, seed=10 + k))
    make_video(folder / "video.mp4", 640, 360, seconds=6.0)
    make_wav(folder / "audio.wav", seconds=8.0, onsets_s=(0.5, 1.5, 2.5, 3.5, 5.0, 6.5))


def _references(folder: Path) -> list:  # type: ignore[type-arg]
    import av
    from PIL import Image

    from refvid.media.info import MediaInfo, Reference

    refs = []
    for k in range(3):
        path = folder / f"image{k}.jpg"
        w, h = Image.open(path).size
        refs.append(Reference("image", k, path.as_uri(), path, MediaInfo("image", "jpeg", path.stat().st_size, w, h)))
    for kind, name in (("video", "video.mp4"), ("audio", "audio.wav")):
        path = folder / name
        with av.open(str(path)) as c:
            duration = float(c.duration or 0) / 1e6
            v = c.streams.video[0] if kind == "video" else None
        info = MediaInfo(kind, path.suffix[1:], path.stat().st_size, v.width if v else 0, v.height if v else 0,
                         duration, has_video=v is not None, has_audio=kind == "audio")
        refs.append(Reference(kind, 0, path.as_uri(), path, info))
    return refs


class _Ctx:
    def __init__(self) -> None:
        self.state: dict[str, object] = {}

    def progress(self, pct: float, message: str | None = None) -> None:
        pass

    def cancelled(self) -> bool:
        return False

    def save_state(self, state: dict) -> None:  # type: ignore[type-arg]
        pass


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


DEFAULT_LOOKS = "warm golden hour, high contrast, film grain"


def run_compositor(folder: Path, resolution: str, duration: int, keep: Path | None = None,
                   looks: str = DEFAULT_LOOKS) -> dict[str, float]:
    from refvid.engines.base import EngineInput
    from refvid.engines.compositor.engine import CompositorEngine
    from refvid.engines.output import OutputSpec

    prompt = "@Image1, then @Image2, then @Image3, with the camera movement of @Video1 and the beat of @Audio1"
    prompt += f". {looks}" if looks else ""
    engine = CompositorEngine()
    # Warm-up: the worker keeps its engine process warm between tasks, so first-call costs (library
    # initialisation, thread pools) are not part of a task's time.
    warm = OutputSpec.build(resolution, "16:9", 1, True, 1)
    engine.generate(EngineInput("warm", "m", prompt, _references(folder), warm,
                                Path(tempfile.mkdtemp(prefix="bench-warm-"))), _Ctx())
    spec = OutputSpec.build(resolution, "16:9", duration, True, 7)
    work = keep or Path(tempfile.mkdtemp(prefix="bench-compositor-"))
    job = EngineInput("bench", "seedance-2.0-reference-to-video", prompt, _references(folder), spec, work)
    start, cpu = time.perf_counter(), _cpu_s()
    engine.generate(job, _Ctx())
    return {"wall_s": time.perf_counter() - start, "cpu_s": _cpu_s() - cpu, "rss_mib": _peak_rss_mib()}


def run_plain(frames_from: Path, preconvert: bool) -> dict[str, float]:
    """Encode the compositor's own output frames again, decoded into memory before the clock starts."""
    import av

    from refvid.engines.output import FPS
    from refvid.media.encode import EncoderSettings, VideoWriter

    with av.open(str(frames_from)) as source:
        decoded = list(source.decode(video=0))
    w, h = decoded[0].width, decoded[0].height
    settings = EncoderSettings()
    out = Path(tempfile.mkdtemp(prefix="bench-plain-")) / "plain.mp4"
    with VideoWriter(out, w, h, FPS, settings=settings) as writer:  # warm-up, like the compositor's
        for frame in decoded[:24]:
            writer.write_frame_i420(frame.to_ndarray())
    if preconvert:  # the encoder's floor: I420 frames straight into our writer
        start, cpu = time.perf_counter(), _cpu_s()
        with VideoWriter(out, w, h, FPS, settings=settings, background=False) as writer:
            for frame in decoded:
                writer.write_frame_i420(frame.to_ndarray())
        return {"wall_s": time.perf_counter() - start, "cpu_s": _cpu_s() - cpu, "rss_mib": _peak_rss_mib()}
    rgb = [frame.to_ndarray(format="rgb24") for frame in decoded]
    del decoded
    start, cpu = time.perf_counter(), _cpu_s()
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": settings.preset, "crf": str(settings.crf),
                          "g": str(round(settings.keyint_s * FPS)), "x264-params": settings.x264_params}
        stream.codec_context.thread_type, stream.codec_context.thread_count = "SLICE", settings.threads
        for i, array in enumerate(rgb):
            vf = av.VideoFrame.from_ndarray(array, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return {"wall_s": time.perf_counter() - start, "cpu_s": _cpu_s() - cpu, "rss_mib": _peak_rss_mib()}


def _child(kind: str, folder: Path, resolution: str, duration: int, frames_from: Path,
           looks: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", kind, "--folder", str(folder), "--resolution", resolution,
           "--durations", str(duration), "--frames-from", str(frames_from), "--looks", looks]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durations", type=int, nargs="+", default=[5, 15])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resolution", default="720p")
    parser.add_argument("--child", choices=["compositor", "plain", "encode-only", "prepare"])
    parser.add_argument("--folder")
    parser.add_argument("--frames-from")
    parser.add_argument("--looks", default=DEFAULT_LOOKS, help="grade words appended to the prompt")
    args = parser.parse_args()
    if args.child:
        duration, frames_from = args.durations[0], Path(args.frames_from)
        if args.child in ("compositor", "prepare"):
            keep = frames_from.parent if args.child == "prepare" else None
            result = run_compositor(Path(args.folder), args.resolution, duration, keep, args.looks)
        else:
            result = run_plain(frames_from, preconvert=args.child == "encode-only")
        print(json.dumps(result))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-refs-"))
    _make_references(folder)
    kinds = ("compositor", "plain", "encode-only")
    print(f"{'dur':>4} {'frames':>6} | {'compositor':>15} | {'plain encode':>15} | {'encode-only':>15} | "
          f"{'ratio/plain':>11} {'ratio/enc':>9} | {'peak RSS':>8}")
    print(f"{'':>4} {'':>6} | {'wall s':>7} {'cpu s':>7} | {'wall s':>7} {'cpu s':>7} | {'wall s':>7} {'cpu s':>7} | "
          f"{'wall (cpu)':>11} {'wall':>9} | {'MiB':>8}")
    for duration in args.durations:
        frames_from = Path(tempfile.mkdtemp(prefix="bench-frames-")) / "output.mp4"
        _child("prepare", folder, args.resolution, duration, frames_from, args.looks)  # warm-up; feeds the baselines
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        for _ in range(args.repeats):
            for kind in kinds:  # alternate, so load changes hit all three alike
                runs[kind].append(_child(kind, folder, args.resolution, duration, frames_from, args.looks))
        wall = {k: statistics.median(r["wall_s"] for r in runs[k]) for k in kinds}
        cpu = {k: statistics.median(r["cpu_s"] for r in runs[k]) for k in kinds}
        rss = max(r["rss_mib"] for r in runs["compositor"])
        ratio = f"{wall['compositor'] / wall['plain']:.2f} ({cpu['compositor'] / cpu['plain']:.2f})"
        print(f"{duration:>3}s {duration * 24:>6} | {wall['compositor']:>7.2f} {cpu['compositor']:>7.2f} | "
              f"{wall['plain']:>7.2f} {cpu['plain']:>7.2f} | {wall['encode-only']:>7.2f} {cpu['encode-only']:>7.2f} | "
              f"{ratio:>11} {wall['compositor'] / wall['encode-only']:>9.2f} | {rss:>8.0f}")


if __name__ == "__main__":
    main()

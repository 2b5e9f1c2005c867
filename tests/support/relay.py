"""Relay engine inputs: references with their public URLs, jobs, and an upload URL as refvid signs one."""

from __future__ import annotations

from pathlib import Path

from refvid.engines.base import EngineInput
from refvid.engines.output import OutputSpec
from refvid.media.info import Reference
from refvid.media.probe import probe

UPLOAD = "http://127.0.0.1:8000/v1/files/file-0123456789abcdef01234567/{name}?expires=9999999999&sig=abc"


def ref(kind: str, index: int, path: Path, url: str) -> Reference:
    return Reference(kind, index, url, path, probe(path, kind, f"{kind}_urls[{index}]"))  # type: ignore[arg-type]


def make_job(tmp_path: Path, references: list[Reference], *, prompt: str = "@Image1 dances to @Audio1",
             model: str = "seedance-2.0-reference-to-video", ratio: str = "4:3", duration: int = 5,
             audio: bool = True, seed: int = 42) -> EngineInput:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return EngineInput("task-unified-1-abcdefgh", model, prompt, references,
                       OutputSpec.build("720p", ratio, duration, audio, seed), work)

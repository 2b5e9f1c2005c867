"""The diffusion engine: open-weight video models through Hugging Face diffusers, from local folders.

Routing (`capabilities.py`): a model id maps to candidate folders under `REFVID_DIFFUSION_WEIGHTS`
(`REFVID_DIFFUSION_FOLDERS`, else the built-in map); the first existing folder whose adapter can honour every
reference of the task wins (Wan VACE, MiniMax-H3 `ref2va`, LTX-2: one module each under `adapters/`). When
folders exist but none can, the task fails at once with `no_capable_engine`, naming what is missing. The
siblings route the same way on the modes each adapter serves: text-to-video (the prompt alone) and
image-to-video (the first frame, optionally the last: `RenderRequest.keyframes`).

The engine owns everything model-independent: preset and device, the warm pipeline (one per worker process),
progress (load 0–5, denoising 5–90, encoding 90–100), cancellation, seeds, and conversion of native frames to
the contract's exact size, 24 fps and frame count. Adapters with their own request mapping (H3, LTX-2) define
`prepare(job, seed)`; Wan uses the engine's. Importing this module does not import torch.
"""

from __future__ import annotations

import importlib
import logging
import math
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from refvid.config import Settings
from refvid.contract import FAST_REFERENCE_MODEL, REFERENCE_MODEL
from refvid.engines.base import BaseEngine, EngineContext, EngineInput, EngineOutput
from refvid.engines.diffusion import CAPABILITIES
from refvid.engines.diffusion.adapters.common import release_memory
from refvid.engines.diffusion.capabilities import (
    NO_CAPABLE_ENGINE,
    AdapterSpec,
    Needs,
    adapter_spec,
    folder_capabilities,
    folder_map,
)
from refvid.engines.diffusion.encode import encode_output
from refvid.engines.diffusion.media import load_image, rewrite_prompt, sample_videos
from refvid.engines.diffusion.plan import (
    PRESETS,
    PipelineAdapter,
    Placement,
    PreparingAdapter,
    Rendered,
    RenderRequest,
    native_frame_count,
    native_size,
)
from refvid.errors import Cancelled, RefvidError, TaskFailure
from refvid.media.conform import fit
from refvid.media.info import Reference
from refvid.media.prompt_refs import mention_order, video_roles

log = logging.getLogger(__name__)

FAST, STANDARD = FAST_REFERENCE_MODEL, REFERENCE_MODEL


def adapter_class(folder: Path) -> Any:
    """The adapter class for a weights folder (see `capabilities.adapter_spec`)."""
    spec = adapter_spec(folder)
    if spec is None:
        raise TaskFailure(f"no diffusion adapter for {folder}")
    return importlib.import_module(spec.module).ADAPTER


class DiffusionEngine(BaseEngine):
    """Generates with a diffusers pipeline kept warm on this instance (it lives in the worker's child)."""

    capabilities = CAPABILITIES

    def __init__(self, settings: Settings | None = None, *, weights: Path | None = None,
                 folders: Mapping[str, str] | None = None, preset: str | None = None, device: str | None = None):
        settings = settings or Settings()
        self.weights = weights or settings.diffusion_weights
        self.folders = folder_map(settings, folders)
        name = preset or settings.diffusion_preset
        if name not in PRESETS:  # a startup error, before any task is taken
            raise ValueError(f"unknown diffusion preset {name!r}; choose one of {', '.join(PRESETS)}")
        self.preset = PRESETS[name]
        self.device = device or settings.diffusion_device
        self.cpu_offload = settings.diffusion_cpu_offload
        self.vae_tiling = settings.diffusion_vae_tiling
        self._adapter: PipelineAdapter | None = None
        self._loaded: Path | None = None

    # -- routing -------------------------------------------------------------------------------------
    def folder_for(self, model: str, needs: Needs | None = None) -> Path:
        """The first candidate folder for `model` whose adapter can honour `needs` (any, without needs).
        A TaskFailure names the folders looked for when none exists, or (`no_capable_engine`) what the
        folders that exist cannot do."""
        if self.weights is None:
            raise TaskFailure("REFVID_DIFFUSION_WEIGHTS is not set (run `refvid dev tiny-weights DIR` for a "
                              "test model)")
        names = self.folders.get(model, ())
        present = [self.weights / n for n in names if (self.weights / n).is_dir()]
        if not present:
            tried = ", ".join(str(self.weights / n) for n in names) or "no folders configured"
            raise TaskFailure(f"diffusion weights for {model} not found (looked for {tried})")
        refusals = []
        for folder in present:
            spec = adapter_spec(folder)
            if spec is None:
                log.warning("no diffusion adapter for weights folder %s; skipped", folder)
                refusals.append(f"{folder.name}: no adapter serves this folder")
                continue
            missing = needs.shortfalls(folder_capabilities(spec, folder)) if needs else []
            if not missing:
                return folder
            refusals.append(f"{folder.name} ({spec.name}): cannot take {', '.join(missing)}")
        raise TaskFailure(f"no diffusion engine here can honour this {model} request — {'; '.join(refusals)}",
                          code=NO_CAPABLE_ENGINE)

    @staticmethod
    def needs(job: EngineInput) -> Needs:
        """What routing must find in a folder: the mode, the references (image-to-video frames are frames, not
        references) and sound; an end frame also needs an adapter that does not trim it off."""
        references = job.mode == "reference"
        counts = {kind: len(job.of_kind(kind)) for kind in ("image", "video", "audio")} if references else {}
        return Needs(counts, job.output.generate_audio, job.mode, end_frame=len(frame_references(job)) > 1,
                     duration_s=job.output.duration_s)

    def spec_for(self, folder: Path) -> AdapterSpec | None:
        return adapter_spec(folder)

    def check(self, models: tuple[str, ...] = (FAST, STANDARD)) -> list[str]:
        """Startup check: one line per model whose weights folder is missing (empty when all is well)."""
        problems = []
        for model in models:
            try:
                self.folder_for(model)
            except TaskFailure as exc:
                problems.append(exc.message)
        return problems

    def adapter_for(self, folder: Path) -> PipelineAdapter:
        """The warm adapter for `folder`, loading it (and dropping any other) on first use."""
        if self._adapter is not None and self._loaded == folder:
            return self._adapter
        self.close()
        adapter: PipelineAdapter = adapter_class(folder)(folder)
        adapter.load(Placement(self._resolve_device(), self.preset, self.cpu_offload, self.vae_tiling))
        self._adapter, self._loaded = adapter, folder
        return adapter

    def _resolve_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    # -- generation ----------------------------------------------------------------------------------
    def prepare(self, job: EngineInput, adapter: PipelineAdapter, seed: int) -> RenderRequest:
        """Native-terms request: grid and frame count, images and videos in prompt-mention order, prompt
        tokens rewritten into words, reference videos sampled on the output timeline at the native fps."""
        cfg, out = adapter.config, job.output
        area = cfg.areas.get(out.resolution) or max(cfg.areas.values())
        width, height = native_size(out.width, out.height, area, cfg.multiple)
        frames = native_frame_count(out.frames, out.fps, cfg.fps, cfg.frame_step)
        if job.mode != "reference":  # text-to-video: the prompt alone; image-to-video: frames to keep
            return RenderRequest(prompt=job.prompt, images=[], control=None, width=width, height=height,
                                 frames=frames, seed=seed, want_audio=out.generate_audio,
                                 keyframes=keyframes(job, width, height, frames, cfg.fps))
        images, videos = job.images, job.videos
        orders = {kind: mention_order(job.prompt, kind, len(job.of_kind(kind))) for kind in ("image", "video", "audio")}
        pictures = [load_image(images[i].path, max(width, height)) for i in orders["image"]]
        request = RenderRequest(prompt=rewrite_prompt(job.prompt, orders), images=pictures, control=None,
                                width=width, height=height, frames=frames, seed=seed, want_audio=out.generate_audio)
        if videos:  # each video is footage to show or a motion source, as the prompt's wording says
            roles = video_roles(job.prompt, len(videos), have_images=bool(images))
            ordered = orders["video"]
            request.control, sources = sample_videos([videos[i] for i in ordered], cfg.fps, frames, width, height)
            request.control_roles = [roles[ordered[s]] for s in sources]
        return request

    def generate(self, job: EngineInput, ctx: EngineContext) -> EngineOutput:
        seed = job.output.seed if job.output.seed >= 0 else secrets.randbelow(2**31)
        ctx.progress(1, "loading diffusion pipeline")
        folder = self.folder_for(job.model, self.needs(job))
        try:
            adapter = self.adapter_for(folder)
            self._check(ctx)
            ctx.progress(5, "preparing references")
            if isinstance(adapter, PreparingAdapter):  # H3 and LTX-2 map the request themselves
                request = adapter.prepare(job, seed)
            else:
                request = self.prepare(job, adapter, seed)

            def on_step(done: int, total: int) -> bool:
                ctx.progress(5 + 85 * done / max(1, total), f"denoising step {done}/{total}")
                return ctx.cancelled()

            rendered = adapter.render(request, on_step)
        except RefvidError:
            raise
        except Exception as exc:
            self._fail(exc)
        self._check(ctx)
        return self._finish(job, ctx, rendered, seed, folder)

    def _finish(self, job: EngineInput, ctx: EngineContext, rendered: Rendered, seed: int,
                folder: Path) -> EngineOutput:
        ctx.progress(90, "encoding")
        out = job.output
        interpolation = self._adapter.config.interpolation if self._adapter else "blend"
        video_path, thumb = encode_output(job, ctx, rendered, interpolation, self._check)
        h, w = rendered.frames.shape[1:3]
        extra = {"steps": rendered.steps, "preset": self.preset.name, "weights": folder.name,
                 "adapter": getattr(self.spec_for(folder), "name", None),
                 "audio": "generated" if out.generate_audio and rendered.audio is not None else (
                     "soundtrack" if out.generate_audio else None),
                 "native": f"{w}x{h}@{rendered.fps:g}fps", "windows": rendered.windows, **rendered.info}
        ctx.progress(100, "done")
        return EngineOutput(video_path=video_path, seed=seed, width=out.width, height=out.height,
                            duration_s=out.duration_s, fps=out.fps, has_audio=out.generate_audio,
                            thumbnail_path=thumb, extra=extra)

    @staticmethod
    def _check(ctx: EngineContext) -> None:
        if ctx.cancelled():
            raise Cancelled()

    def _fail(self, exc: Exception) -> NoReturn:
        """Turn a pipeline exception into a task failure, dropping a pipeline that may be half-broken."""
        message = f"{type(exc).__name__}: {exc}"
        if "OutOfMemoryError" in type(exc).__name__:
            message += " (try REFVID_DIFFUSION_CPU_OFFLOAD=1, REFVID_DIFFUSION_VAE_TILING=1 or 480p)"
            self.close()
        log.exception("diffusion generation failed")
        raise TaskFailure(f"diffusion generation failed: {message}", code="generation_failed") from exc

    def close(self) -> None:
        """Drop the warm pipeline and give its memory back (CUDA caches included)."""
        if self._adapter is None:
            return
        self._adapter.close()
        self._adapter, self._loaded = None, None
        release_memory()


def frame_references(job: EngineInput) -> list[Reference]:
    """Image-to-video's frames in order (`image_url`, then `end_image_url` when sent); empty for other modes."""
    return sorted(job.images, key=lambda ref: ref.index) if job.mode == "image" else []


def keyframes(job: EngineInput, width: int, height: int, frames: int, fps: int) -> dict[int, np.ndarray]:
    """Native frame index → picture for image-to-video: the first frame at 0 and the end frame on every native
    frame from the one the output's last frame falls on (the engine blends the two neighbours of each output
    time, so both must show it) to the end of the clip."""
    pictures = [fit(np.asarray(load_image(ref.path, 2 * max(width, height))), width, height)
                for ref in frame_references(job)]
    if not pictures:
        return {}
    kept = {0: pictures[0]}
    if len(pictures) > 1:
        out = job.output
        last = min(frames - 1, math.floor((out.frames - 1) * fps / out.fps))
        kept |= {index: pictures[1] for index in range(max(1, last), frames)}
    return kept


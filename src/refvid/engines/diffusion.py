"""The diffusion engine: open-weight video models through Hugging Face diffusers, from local folders.

Routing: a model id maps to candidate folders under `REFVID_DIFFUSION_WEIGHTS` (fast → `wan-vace-1.3b`,
standard → `wan-vace-14b`, both falling back to `wan-vace`, the name `refvid dev tiny-weights` writes); with
`generate_audio`, an `audio:<model>` folder whose adapter generates audio jointly (LTX-2) is preferred when
present. The folder's `model_index.json` (or `adapter` in its `refvid.json`) picks the adapter module
`diffusion_<name>.py`, so a new pipeline family is one file.

The engine owns everything model-independent: preset and device, the warm pipeline (one per worker process),
prompt/reference preparation, progress (load 0–5, denoising 5–90, encoding 90–100), cancellation, seeds, and
conversion of native frames to the contract's exact size, 24 fps and frame count. Importing this module does
not import torch.
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import pkgutil
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from refvid.config import Settings
from refvid.engines.base import BaseEngine, EngineContext, EngineInput, EngineOutput
from refvid.engines.diffusion_encode import encode_output
from refvid.engines.diffusion_media import load_image, rewrite_prompt, sample_videos
from refvid.engines.diffusion_plan import (
    PRESETS,
    PipelineAdapter,
    Rendered,
    RenderRequest,
    Runtime,
    native_frame_count,
    native_size,
    read_config_adapter,
)
from refvid.errors import Cancelled, RefvidError, TaskFailure
from refvid.media.prompt_refs import mention_order, video_roles

log = logging.getLogger(__name__)

FAST, STANDARD = "seedance-2.0-fast-reference-to-video", "seedance-2.0-reference-to-video"
DEFAULT_FOLDERS: dict[str, tuple[str, ...]] = {
    FAST: ("wan-vace-1.3b", "wan-vace"),
    STANDARD: ("wan-vace-14b", "wan-vace"),
    f"audio:{FAST}": ("ltx2",),
    f"audio:{STANDARD}": ("ltx2",),
}
FALLBACK_FOLDER = "wan-vace"


def parse_folders(items: list[str] | Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """`model=folder` items (or a mapping) → candidate folder tuples."""
    pairs = items.items() if isinstance(items, Mapping) else (i.split("=", 1) for i in items if "=" in i)
    return {key.strip(): (value.strip(),) for key, value in pairs}


def adapter_class(folder: Path) -> Any:
    """The adapter for a weights folder: `adapter` in refvid.json, else the module whose
    `PIPELINE_CLASSES` lists the pipeline class named in model_index.json."""
    name = read_config_adapter(folder)
    if name:
        return importlib.import_module(f"refvid.engines.diffusion_{name}").ADAPTER
    index = folder / "model_index.json"
    class_name = json.loads(index.read_text()).get("_class_name", "") if index.is_file() else ""
    package = importlib.import_module("refvid.engines")
    for module_info in pkgutil.iter_modules(package.__path__):
        if module_info.name.startswith("diffusion_"):
            module = importlib.import_module(f"refvid.engines.{module_info.name}")
            if class_name in getattr(module, "PIPELINE_CLASSES", ()):
                return module.ADAPTER
    raise TaskFailure(f"no diffusion adapter for {folder} (pipeline class {class_name or 'unknown'})")


class DiffusionEngine(BaseEngine):
    """Generates with a diffusers pipeline kept warm on this instance (it lives in the worker's child)."""

    name = "diffusion"
    resolutions = ("480p", "720p")
    supports_audio = True  # joint audio (LTX-2) or the reference-audio soundtrack the compositor uses

    def __init__(self, settings: Settings | None = None, *, weights: Path | None = None,
                 folders: Mapping[str, str] | None = None, preset: str | None = None, device: str | None = None):
        settings = settings or Settings()
        self.weights = weights or settings.diffusion_weights
        configured = folders if folders is not None else getattr(settings, "diffusion_folders", None) or []
        self.folders = {**DEFAULT_FOLDERS, **parse_folders(configured)}
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
    def folder_for(self, model: str, want_audio: bool = False) -> Path:
        """The weights folder serving `model`, or a TaskFailure naming the folders looked for."""
        if self.weights is None:
            raise TaskFailure("REFVID_DIFFUSION_WEIGHTS is not set (run `refvid dev tiny-weights DIR` for a "
                              "test model)")
        if want_audio:  # a joint audio+video model when one is installed; else video + soundtrack
            for name in self.folders.get(f"audio:{model}", ()):
                folder = self.weights / name
                try:
                    if folder.is_dir() and getattr(adapter_class(folder), "supports_audio", False):
                        return folder
                except TaskFailure:  # a folder no adapter serves: log it, generate without it
                    log.warning("no adapter for audio weights %s; using the video model", folder)
        names = self.folders.get(model, (FALLBACK_FOLDER,))
        for name in names:
            if (self.weights / name).is_dir():
                return self.weights / name
        tried = ", ".join(str(self.weights / n) for n in names)
        raise TaskFailure(f"diffusion weights for {model} not found (looked for {tried})")

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
        adapter.load(Runtime(self._resolve_device(), self.preset, self.cpu_offload, self.vae_tiling))
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
        folder = self.folder_for(job.model, job.output.generate_audio)
        try:
            adapter = self.adapter_for(folder)
            self._check(ctx)
            ctx.progress(5, "preparing references")
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
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

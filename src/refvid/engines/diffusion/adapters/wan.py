"""Wan 2.1 VACE adapter (`WanVACEPipeline`, Apache-2.0): subject reference images + a control video.

Reference images go to `reference_images` (VACE's R2V task). A reference video becomes a control video with
an all-white mask ("generate everything, guided by this"). One the prompt uses for its movement ("camera like
@Video1") is given as the camera motion fitted between its frames, drawn as optical flow with the Middlebury
colour wheel (VACE's flow task), so the camera movement carries over without copying its content; footage
the prompt wants shown is given as it is. Clips longer than one window (81 frames at
16 fps ≈ 5 s) are extended window by window: the last `overlap` generated frames are given back as known
frames (mask black), VACE's extension task.

The siblings use the same masks: text-to-video is VACE with no reference image and no control (its T2V task);
image-to-video gives the first frame as a known frame at 0 and the end frame (when sent) as known frames at
the end of the clip, every other frame neutral grey with a white mask (VACE's first/last-frame task).

torch/diffusers are imported inside `load`/`render` only (`adapters/common.py`); what the adapter honours is
declared in `capabilities.py`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from refvid.engines.diffusion.adapters.common import hf, quiet
from refvid.engines.diffusion.media import control_video
from refvid.engines.diffusion.plan import ModelConfig, Placement, Rendered, RenderRequest, StepHook, plan_windows
from refvid.errors import Cancelled

log = logging.getLogger(__name__)

# Wan's own default negative prompt (Wan2.1 repo, shared/config.py): the models were tuned with it.
NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)


def model_defaults(folder: Path) -> ModelConfig:
    """1.3B is trained at 480p only; the 14B model (hidden size 5120) also at 720p."""
    base = ModelConfig(adapter="wan", negative_prompt=NEGATIVE_PROMPT)
    config = folder / "transformer" / "config.json"
    if config.is_file():
        data = json.loads(config.read_text())
        if data.get("num_attention_heads", 0) * data.get("attention_head_dim", 0) >= 5120:
            return replace(base, areas={"480p": 832 * 480, "720p": 1280 * 720})
    return base


class WanVaceAdapter:
    """Loads one Wan VACE folder and renders clips at its native grid."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.config = ModelConfig.load(folder, model_defaults(folder))
        self.pipe: Any = None
        self.placement: Placement | None = None
        self.lora: Path | None = None

    def lora_file(self) -> Path | None:
        """The step-distilled LoRA shipped in the folder, if any (`lora` in refvid.json, else lora/*.safetensors)."""
        if self.config.lora:
            path = self.folder / self.config.lora
            return path if path.is_file() else None
        found = sorted((self.folder / "lora").glob("*.safetensors"))
        return found[0] if found else None

    def steps(self) -> tuple[int, float]:
        """(steps, guidance scale) for the loaded preset: a distilled LoRA fixes both (no CFG)."""
        assert self.placement is not None
        if self.lora is not None:
            return self.config.lora_steps, self.config.lora_guidance_scale
        return self.config.steps_for(self.placement.preset), self.config.guidance_scale

    def load(self, placement: Placement) -> None:
        diffusers = hf("diffusers")
        import torch

        dtype = torch.bfloat16 if placement.device == "cuda" else torch.float32
        # The VAE stays fp32, as Wan's own code and diffusers' Wan examples run it; it is small (127 M).
        vae = diffusers.AutoencoderKLWan.from_pretrained(self.folder, subfolder="vae", dtype=torch.float32)
        self.attach(diffusers.WanVACEPipeline.from_pretrained(self.folder, vae=vae, dtype=dtype), placement)

    def attach(self, pipe: Any, placement: Placement) -> None:
        """Apply the preset and memory settings to a built pipeline (also used by bench/diffusion.py on an
        in-memory one). May be called again on the same pipeline with another preset."""
        cuda = placement.device == "cuda"
        self.pipe, self.placement = pipe, placement
        quiet(pipe)
        lora = self.lora_file() if placement.preset.use_lora else None
        if lora is not None and self.lora != lora:
            try:  # needs the peft package; without it the preset still runs, just undistilled
                pipe.load_lora_weights(str(lora), adapter_name="distill")
                pipe.fuse_lora()
                self.lora = lora
            except Exception as exc:
                log.warning("distilled LoRA %s not loaded (%s); running without it", lora, exc)
        self._apply_cache(placement)
        if cuda and self.config.attention_backend:
            pipe.transformer.set_attention_backend(self.config.attention_backend)
        if cuda and placement.cpu_offload:
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(placement.device)
        if placement.vae_tiling:
            pipe.vae.enable_tiling()
        if cuda and placement.preset.compile and not getattr(pipe.transformer, "_refvid_compiled", False):
            # Regional compile: one compiled graph reused by all identical blocks (much shorter warm-up than
            # compiling the whole model); fullgraph off so the cache hooks may break the graph.
            pipe.transformer.compile_repeated_blocks(fullgraph=False)
            pipe.transformer._refvid_compiled = True

    def _apply_cache(self, placement: Placement) -> None:
        diffusers = hf("diffusers")
        transformer = self.pipe.transformer
        if transformer.is_cache_enabled:
            transformer.disable_cache()
        preset = placement.preset
        if preset.cache == "none":
            return
        if self.config.mag_ratios:  # calibrated ratios beat the generic First Block Cache rule
            steps, _ = self.steps()
            config = diffusers.MagCacheConfig(threshold=0.06, num_inference_steps=steps,
                                              mag_ratios=self.config.mag_ratios)
        else:
            config = diffusers.FirstBlockCacheConfig(threshold=preset.cache_threshold)
        transformer.enable_cache(config)

    def render(self, request: RenderRequest, on_step: StepHook) -> Rendered:
        import torch

        cfg = self.config
        steps, guidance = self.steps()
        windows = plan_windows(request.frames, cfg.max_frames, cfg.overlap)
        total = steps * len(windows)
        control = request.control
        if control is not None and cfg.control != "none":
            roles = request.control_roles or ["motion"] * len(control)
            control = control_video(control, roles, cfg.control)
        else:
            control = None
        self._set_flow_shift(request.width * request.height)
        # One CPU generator for every window: identical noise on any device for the same seed.
        generator = torch.Generator("cpu").manual_seed(request.seed)
        clip: np.ndarray | None = None
        for k, (start, length) in enumerate(windows):
            known = clip[start : start + cfg.overlap] if clip is not None else None
            video, mask = self._conditions(control, known, start, length, request)
            frames = self._call(request, video, mask, length, steps, guidance, generator,
                                lambda i, done=k * steps: on_step(done + i + 1, total))
            clip = frames if clip is None else np.concatenate([clip, frames[cfg.overlap :]])
        assert clip is not None
        info = {"lora": self.lora.name if self.lora else None,
                "cache": self.placement.preset.cache if self.placement else None}
        return Rendered(frames=clip, fps=cfg.fps, steps=steps, windows=len(windows), info=info)

    def _set_flow_shift(self, area: int) -> None:
        """Wan's samplers use flow shift 3 at 480p and 5 at 720p; schedulers without the knob keep theirs."""
        scheduler = self.pipe.scheduler
        if "flow_shift" not in scheduler.config:
            return
        shift = 5.0 if area >= 1280 * 720 * 0.9 else 3.0
        if scheduler.config.flow_shift != shift:
            self.pipe.scheduler = type(scheduler).from_config(scheduler.config, flow_shift=shift)

    def _conditions(self, control: np.ndarray | None, known: np.ndarray | None, start: int, length: int,
                    request: RenderRequest) -> tuple[list[Image.Image] | None, list[Image.Image] | None]:
        """VACE's video + mask for one window: known frames (black mask, kept) first, then the image-to-video
        keyframes (kept), then control frames or neutral grey (white mask, generated). No control and nothing
        known: plain reference- (or text-) to-video."""
        if control is None and known is None and not request.keyframes:
            return None, None
        size = (request.width, request.height)
        grey = Image.new("RGB", size, (128, 128, 128))
        keep, make = Image.new("L", size, 0), Image.new("L", size, 255)
        n_known = 0 if known is None else len(known)
        video, mask = [], []
        for j in range(length):
            index = start + j
            if known is not None and j < n_known:
                video.append(Image.fromarray(known[j]))
                mask.append(keep)
            elif index in request.keyframes:
                video.append(Image.fromarray(request.keyframes[index]))
                mask.append(keep)
            else:
                video.append(Image.fromarray(control[index]) if control is not None else grey)
                mask.append(make)
        return video, mask

    def _call(self, request: RenderRequest, video: list[Image.Image] | None, mask: list[Image.Image] | None,
              length: int, steps: int, guidance: float, generator: Any, on_step: Any) -> np.ndarray:
        def callback(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if on_step(i):
                pipe._interrupt = True  # the loop skips the remaining steps if anything swallows the raise
                raise Cancelled()  # and leaves now instead of decoding a clip nobody wants
            return kwargs

        cfg = self.config
        try:
            result = self.pipe(
                prompt=request.prompt, negative_prompt=cfg.negative_prompt or None, video=video, mask=mask,
                reference_images=request.images or None, conditioning_scale=cfg.conditioning_scale,
                height=request.height, width=request.width, num_frames=length, num_inference_steps=steps,
                guidance_scale=guidance, generator=generator, output_type="np",
                max_sequence_length=cfg.max_sequence_length, callback_on_step_end=callback,
            )
        except BaseException:
            self.pipe.maybe_free_model_hooks()  # resets offload and cache-hook state for the next task
            raise
        frames = np.asarray(result.frames[0], dtype=np.float32)
        clip: np.ndarray = np.clip(frames * 255 + 0.5, 0, 255).astype(np.uint8)
        return clip

    def close(self) -> None:
        self.pipe = None


ADAPTER = WanVaceAdapter

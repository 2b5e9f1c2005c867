"""LTX-2 adapter (`LTX2InContextPipeline` over an `LTX2Pipeline` folder, LTX-2 Community License): video and
audio from one denoising loop, at 24 fps, frames 8k+1.

- **Images** become frame conditions in prompt-mention order (images the prompt never mentions follow in
  request order): the first at frame 0, the last at the final frame, the others spread evenly between, each
  snapped to the VAE's temporal stride (a condition off the latent grid would be skipped with only a warning).
- **A reference video** is used only through an in-context LoRA shipped in the weights folder
  (`ic_lora/*.safetensors`, or `ic_lora` in refvid.json): its frames, sampled at 24 fps on the output
  timeline, become the IC-LoRA's reference condition. Without one the task fails with
  `reference_video_unsupported` (routing normally picks another folder first): a reference is never
  silently ignored. `@Audio` references are refused by routing: LTX-2 has no reference-audio input.
- **Siblings**: text-to-video runs with no condition at all; image-to-video's first frame is a condition at
  frame 0 and its end frame (when sent) one at the clip's last frame, exactly as two keyframes are.
- **Length**: 8k+1 frames covering the output (97 for 4 s, 361 for 15 s), trimmed to `duration × 24` by the
  engine; the audio's sample rate is the vocoder's `output_sampling_rate`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from refvid.contract import Mention, find_mentions, replace_mentions
from refvid.engines.base import EngineInput
from refvid.engines.diffusion.adapters.common import frames_uint8, hf, quiet, samples_float32
from refvid.engines.diffusion.capabilities import NO_CAPABLE_ENGINE, ic_lora_file
from refvid.engines.diffusion.media import load_image, sample_videos
from refvid.engines.diffusion.plan import (
    ModelConfig,
    Placement,
    Rendered,
    RenderRequest,
    StepHook,
    native_frame_count,
    native_size,
)
from refvid.errors import Cancelled, TaskFailure
from refvid.media.conform import fit

REFERENCE_VIDEO_UNSUPPORTED = "reference_video_unsupported"
DEFAULTS = ModelConfig(adapter="ltx2", fps=24, multiple=32, frame_step=8, frame_offset=1, min_frames=9,
                       max_frames=481, areas={"480p": 864 * 480, "720p": 1280 * 704},
                       steps={"quality": 40, "balanced": 30, "fast": 20}, guidance_scale=4.0,
                       max_sequence_length=1024)
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")


def image_order(prompt: str, count: int) -> list[int]:
    """Image indexes in first-mention order, then the unmentioned ones in request order."""
    seen: list[int] = []
    for mention in find_mentions(prompt):
        if mention.kind == "image" and 0 <= mention.index < count and mention.index not in seen:
            seen.append(mention.index)
    return seen + [i for i in range(count) if i not in seen]


def keyframe_indexes(count: int, frames: int, stride: int) -> list[int]:
    """Frame index of each of `count` keyframes: first at 0, last at the end, the rest evenly between, all on
    the latent grid (multiples of `stride`)."""
    if count <= 1:
        return [0] * count
    last = (frames - 1) // stride * stride
    return [round(k * last / (count - 1) / stride) * stride for k in range(count)]


def worded_prompt(prompt: str, order: list[int]) -> str:
    """Mentions rewritten into words the text encoder can read: keyframes by their place in time."""

    def words(mention: Mention) -> str:
        if mention.kind == "image" and mention.index in order:
            position = order.index(mention.index)
            return f"the {ORDINALS[position] if position < len(ORDINALS) else f'#{position + 1}'} keyframe"
        if mention.kind == "video":
            return "the reference video"
        return mention.text

    return replace_mentions(prompt, words)


class Ltx2Adapter:
    """Loads one LTX-2 folder (and its IC-LoRA, if any) and renders clips with joint audio."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.config = ModelConfig.load(folder, DEFAULTS)
        self.ic_lora = ic_lora_file(folder)
        self.pipe: Any = None
        self.placement: Placement | None = None

    def load(self, placement: Placement) -> None:
        import torch

        diffusers, ltx2 = hf("diffusers"), hf("diffusers.pipelines.ltx2")
        dtype = torch.bfloat16 if placement.device == "cuda" else torch.float32
        base = diffusers.LTX2Pipeline.from_pretrained(self.folder, dtype=dtype)
        wanted = inspect.signature(ltx2.LTX2InContextPipeline.__init__).parameters
        pipe = ltx2.LTX2InContextPipeline(**{k: v for k, v in base.components.items() if k in wanted})
        if self.ic_lora is not None:
            pipe.load_lora_weights(str(self.ic_lora), adapter_name="ic_lora")
        if placement.device == "cuda" and placement.cpu_offload:
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(placement.device)
        if placement.vae_tiling:
            pipe.vae.enable_tiling()
        quiet(pipe)
        self.pipe, self.placement = pipe, placement

    # -- request → pipeline inputs ------------------------------------------------------------------------
    def prepare(self, job: EngineInput, seed: int) -> RenderRequest:
        out, cfg = job.output, self.config
        if job.audios:  # routing refuses these; a folder pinned by hand must not drop them either
            raise TaskFailure("LTX-2 has no reference-audio input; route @Audio requests to MiniMax-H3",
                              code=NO_CAPABLE_ENGINE)
        if job.videos and self.ic_lora is None:
            raise TaskFailure(f"LTX-2 weights {self.folder.name} have no IC-LoRA (ic_lora/*.safetensors), so "
                              "video_urls cannot be used", code=REFERENCE_VIDEO_UNSUPPORTED)
        area = cfg.areas.get(out.resolution, max(cfg.areas.values()))
        width, height = native_size(out.width, out.height, area, cfg.multiple)
        frames = native_frame_count(out.frames, out.fps, cfg.fps, cfg.frame_step, cfg.frame_offset)
        frames = min(cfg.max_frames, max(cfg.min_frames, frames))
        # Image-to-video's frames are keyframes in their own order (first, end); text-to-video has none.
        order = image_order(job.prompt, len(job.images)) if job.mode == "reference" else list(range(len(job.images)))
        images = [Image.fromarray(fit(np.asarray(load_image(job.images[i].path, 2 * max(width, height))), width,
                                      height)) for i in order]
        request = RenderRequest(prompt=worded_prompt(job.prompt, order), images=images, control=None, width=width,
                                height=height, frames=frames, seed=seed, want_audio=out.generate_audio,
                                references=list(job.references), duration_s=out.duration_s)
        if job.videos:
            request.control, _ = sample_videos(job.videos[:1], cfg.fps, frames, width, height)
        return request

    # -- generation -------------------------------------------------------------------------------------
    def render(self, request: RenderRequest, on_step: StepHook) -> Rendered:
        import torch

        ltx2 = hf("diffusers.pipelines.ltx2")
        assert self.placement is not None
        steps, cfg = self.config.steps_for(self.placement.preset), self.config
        stride = int(getattr(self.pipe, "vae_temporal_compression_ratio", 8))
        indexes = keyframe_indexes(len(request.images), request.frames, stride)
        conditions = [ltx2.LTX2VideoCondition(frames=img, index=i, strength=1.0)
                      for img, i in zip(request.images, indexes, strict=True)]
        references = None
        if request.control is not None:
            references = [ltx2.LTX2ReferenceCondition(frames=[Image.fromarray(f) for f in request.control])]
        if self.ic_lora is not None:  # the IC-LoRA only shapes tasks that give it a reference video
            (self.pipe.enable_lora if references else self.pipe.disable_lora)()

        def callback(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if on_step(i + 1, steps):
                raise Cancelled()  # leave now: `_interrupt` alone would still decode a clip nobody wants
            return kwargs

        kwargs: dict[str, Any] = {"guidance_scale": cfg.guidance_scale, **cfg.call}
        try:
            result = self.pipe(
                prompt=request.prompt, negative_prompt=cfg.negative_prompt or None, conditions=conditions or None,
                reference_conditions=references, height=request.height, width=request.width,
                num_frames=request.frames, frame_rate=float(cfg.fps), num_inference_steps=steps,
                generator=torch.Generator("cpu").manual_seed(request.seed), output_type="pt",
                max_sequence_length=cfg.max_sequence_length, callback_on_step_end=callback, **kwargs)
        except BaseException:
            self.pipe.maybe_free_model_hooks()
            raise
        rate = int(self.pipe.vocoder.config.output_sampling_rate)
        audio = samples_float32(result.audio) if request.want_audio else None
        info = {"keyframes": indexes, "ic_lora": self.ic_lora.name if references and self.ic_lora else None,
                "prompt": request.prompt, "native_frames": request.frames}
        return Rendered(frames=frames_uint8(result.frames), fps=cfg.fps, steps=steps, audio=audio,
                        sample_rate=rate if audio is not None else 0, info=info)

    def close(self) -> None:
        self.pipe = None


ADAPTER = Ltx2Adapter

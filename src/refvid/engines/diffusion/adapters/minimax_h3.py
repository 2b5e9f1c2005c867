"""MiniMax-H3 `ref2va` adapter (`MiniMaxH3ModularPipeline`, MiniMax H3 Community License): the Seedance-class
engine. It takes the request's own inputs (≤ 9 images, 3 videos with their soundtracks, 3 audio clips) and
generates video and stereo audio in one denoising loop at 24 fps.

- **Reference order** (fixed): images in request order, then videos, then audio clips. The model numbers its
  labels per modality in that order, and a video with a soundtrack also takes an `<Audio j>` number (before
  its `<Video k>`), so `@ImageN` → `<Picture N>`, `@VideoK` → `<Video K>`, `@AudioJ` → `<Audio S+J>` where S is
  the number of reference videos that carry sound (`engines/mention_labels.py`, shared with the upstream providers).
- **Audio** is decoded and resampled with PyAV to the audio VAE's rate (`references.py`); no torchaudio.
- **Duration**: the model makes 17n+5 frames between 124 (5.17 s) and 345 (14.375 s). A shorter request is
  generated at 124 frames and trimmed; a longer one (15 s) at 345 frames, whose last frame is then held for
  the remaining 0.625 s while the generated sound fades out and silence fills the rest. Never a time-stretch:
  lip-sync and music tempo stay exact.
- **Size**: height/width multiples of 32 near the model config's pixel count for the resolution, then fitted
  to the exact output size by the engine. `generate_audio=false` drops the generated track.
- **Progress and cancellation**: the modular pipeline has no `callback_on_step_end`, so a leaf block is added
  to the denoise loop before the pipeline is initialised (`pipe.blocks` is a copy afterwards); raising from it
  stops within one step.
- **Siblings**: text-to-video runs the `t2va` workflow (the prompt alone), image-to-video `fl2va` (`image` =
  first frame, `last_image` = end frame), both on the folder's `transformer` partition (`ref2va` drives
  `transformer_ref`); one workflow's pipeline is warm at a time, and a task of another workflow reloads the
  folder. Routing offers them only when the folder and the installed diffusers have them
  (`capabilities.h3_serves_siblings`). An end frame is the clip's last generated frame, so its clip is the
  longest 17n+5 count within the duration (then held, like a 15 s clip), and 4–5 s requests with an end frame
  are routed elsewhere (the shortest clip, 5.17 s, would be trimmed).
- **Memory**: ~130 GiB of bf16 weights (33B DiT 61.7 GiB + Qwen3-VL-32B encoder ~62 GiB + VAEs). On CUDA the
  encoder and the DiT take turns on the GPU: the DiT goes to the CPU, the encoder encodes the prompt and
  references, goes back to the CPU, and the DiT returns to denoise (about 67 GiB of weights resident at any
  time). `REFVID_DIFFUSION_CPU_OFFLOAD=1` uses diffusers' automatic offload instead (smaller GPUs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from refvid.engines.base import EngineInput
from refvid.engines.diffusion.adapters.common import (
    fade_out,
    frames_uint8,
    hf,
    quiet,
    release_memory,
    samples_float32,
)
from refvid.engines.diffusion.adapters.modular import load_modular, step_block, swap_block
from refvid.engines.diffusion.capabilities import NO_CAPABLE_ENGINE
from refvid.engines.diffusion.media import load_image
from refvid.engines.diffusion.plan import (
    ModelConfig,
    Placement,
    Rendered,
    RenderRequest,
    StepHook,
    native_frame_count,
    native_size,
)
from refvid.engines.diffusion.references import decode_audio, decode_video
from refvid.engines.mention_labels import h3_prompt as labelled_prompt
from refvid.engines.mention_labels import ordered
from refvid.errors import TaskFailure
from refvid.media.conform import fit

MIN_FRAMES, MAX_FRAMES = 124, 345  # 17n+5 frames at 24 fps: 5.17 s … 14.375 s
DEFAULTS = ModelConfig(adapter="minimax_h3", fps=24, multiple=32, frame_step=17, frame_offset=5,
                       min_frames=MIN_FRAMES, max_frames=MAX_FRAMES,
                       areas={"480p": 864 * 480, "720p": 1280 * 704}, steps={"quality": 50, "balanced": 40})
DIT = {"ref2va": "transformer_ref", "t2va": "transformer", "fl2va": "transformer"}  # each workflow's partition


def frame_count(duration_s: int, fps: int = 24) -> int:
    """Frames to generate for a duration: the 17n+5 count covering it, within the model's window."""
    count = native_frame_count(duration_s * fps, fps, fps, DEFAULTS.frame_step, DEFAULTS.frame_offset)
    return min(MAX_FRAMES, max(MIN_FRAMES, count))


def end_frame_count(duration_s: int, fps: int = 24) -> int:
    """Frames to generate when the clip must end on a given frame: the longest 17n+5 count within the duration
    (the engine holds its last frame for the rest), so that trimming never cuts the end frame off."""
    step, offset = DEFAULTS.frame_step, DEFAULTS.frame_offset
    count = (duration_s * fps - offset) // step * step + offset
    return min(MAX_FRAMES, max(MIN_FRAMES, count))


def workflow_for(request: RenderRequest) -> str:
    """`ref2va` for references, `fl2va` for first/last frames, `t2va` for the prompt alone."""
    if request.references:
        return "ref2va"
    return "fl2va" if request.images else "t2va"


class MiniMaxH3Adapter:
    """Loads one MiniMax-H3 folder (one workflow warm at a time: ref2va, t2va or fl2va) and renders clips
    with joint audio."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.config = ModelConfig.load(folder, DEFAULTS)
        self.pipe: Any = None
        self.placement: Placement | None = None
        self.audio_rate = 0
        self.workflow = ""

    def load(self, placement: Placement, workflow: str = "ref2va") -> None:
        """Build `workflow`'s pipeline from the folder (the one warm pipeline of this adapter)."""
        import torch

        cuda = placement.device == "cuda"
        all_blocks = hf("diffusers.modular_pipelines").MiniMaxH3Blocks()
        if workflow not in getattr(all_blocks, "_workflow_map", {}):
            raise TaskFailure(f"the installed diffusers has no MiniMax-H3 {workflow!r} workflow",
                              code=NO_CAPABLE_ENGINE)
        blocks = all_blocks.get_workflow(workflow)
        loop = blocks.sub_blocks["denoise.denoise"]
        loop.sub_blocks.insert("refvid_step", step_block(), len(loop.sub_blocks))
        dit = DIT[workflow]
        offload = cuda and self.config.offload_encoder and not placement.cpu_offload
        if offload:  # encoder and DiT take turns on the GPU: each leaves it before the other comes in
            index = list(blocks.sub_blocks).index("text_encoder")
            blocks.sub_blocks.insert("refvid_dit_out", swap_block((dit, "cpu")), index)
            blocks.sub_blocks.insert("refvid_encoder_out", swap_block(("text_encoder", "cpu")), index + 2)
        dtype = torch.bfloat16 if cuda else torch.float32
        self.pipe = load_modular(blocks, self.folder, dtype)
        if cuda and placement.cpu_offload:
            manager = hf("diffusers").ComponentsManager()
            manager.add_collection(self.pipe)
            manager.enable_auto_cpu_offload(device=placement.device)
        elif offload:
            # The two big models wait on the CPU; an offload hook brings each to the GPU when it runs (and
            # keeps the pipeline's execution device the GPU while they are parked); the swap blocks park them.
            accelerate = hf("accelerate")
            for name, component in self.pipe.components.items():
                if name in ("text_encoder", dit):
                    accelerate.cpu_offload_with_hook(component, execution_device=placement.device)
                elif isinstance(component, torch.nn.Module):
                    component.to(placement.device)
        else:
            self.pipe.to(placement.device)
        if placement.vae_tiling and hasattr(self.pipe.vae, "enable_tiling"):
            self.pipe.vae.enable_tiling()
        quiet(self.pipe)
        self.placement, self.workflow = placement, workflow
        self.audio_rate = int(self.pipe.audio_vae.config.sampling_rate)

    def use(self, workflow: str) -> None:
        """Make `workflow`'s pipeline the warm one: the workflows drive different DiT partitions, so another
        workflow's task drops the current pipeline and loads the folder again (one DiT in memory at a time)."""
        if workflow == self.workflow:
            return
        assert self.placement is not None
        self.pipe, self.workflow = None, ""  # a failed load leaves nothing that looks warm
        release_memory()
        self.load(self.placement, workflow)

    # -- request → pipeline inputs ------------------------------------------------------------------------
    def prepare(self, job: EngineInput, seed: int) -> RenderRequest:
        out, cfg = job.output, self.config
        width, height = native_size(out.width, out.height, cfg.areas.get(out.resolution, max(cfg.areas.values())),
                                    cfg.multiple)
        if job.mode != "reference":  # t2va: the prompt alone; fl2va: the first (and end) frame, fitted here
            frames = [Image.fromarray(fit(np.asarray(load_image(ref.path, 2 * max(width, height))), width, height))
                      for ref in sorted(job.images, key=lambda ref: ref.index)] if job.mode == "image" else []
            count = (end_frame_count if len(frames) > 1 else frame_count)(out.duration_s, out.fps)
            return RenderRequest(prompt=job.prompt, images=frames, control=None, width=width, height=height,
                                 frames=count, seed=seed, want_audio=out.generate_audio, duration_s=out.duration_s)
        return RenderRequest(prompt=labelled_prompt(job.prompt, job.references), images=[], control=None,
                             width=width, height=height, frames=frame_count(out.duration_s, out.fps), seed=seed,
                             want_audio=out.generate_audio, references=ordered(job.references),
                             duration_s=out.duration_s)

    def model_references(self, request: RenderRequest) -> list[Any]:
        """The request's references as H3 dataclasses, in the fixed order, media at the model's rates."""
        h3 = hf("diffusers.modular_pipelines.minimax_h3")
        import torch

        seconds = request.frames / self.config.fps
        edge = int(getattr(self.pipe.config, "canvas_short_edge", 768) or 768)
        refs: list[Any] = []
        for ref in request.references:
            if ref.kind == "image":  # upright (EXIF); aspect ≤ 2.5, so 3× the short edge loses no detail
                image = load_image(ref.path, 3 * int(getattr(self.pipe.config, "reference_image_short_edge", 2048)))
                refs.append(h3.MiniMaxH3ImageReference(image=image))
            elif ref.kind == "video":
                frames, fps = decode_video(ref.path, seconds, edge)
                sound = decode_audio(ref.path, self.audio_rate, seconds) if ref.info.has_audio else None
                refs.append(h3.MiniMaxH3VideoReference(
                    frames=frames, fps=fps, audio=None if sound is None else torch.from_numpy(sound),
                    sample_rate=self.audio_rate))
            else:
                sound = decode_audio(ref.path, self.audio_rate, seconds)
                refs.append(h3.MiniMaxH3AudioReference(audio=torch.from_numpy(sound), sample_rate=self.audio_rate))
        return refs

    # -- generation -------------------------------------------------------------------------------------
    def render(self, request: RenderRequest, on_step: StepHook) -> Rendered:
        import torch

        assert self.placement is not None
        workflow = workflow_for(request)
        self.use(workflow)
        steps = self.config.steps_for(self.placement.preset)
        generator = torch.Generator("cpu").manual_seed(request.seed)  # same noise on any device
        inputs: dict[str, Any] = {"references": self.model_references(request)} if workflow == "ref2va" else {}
        if request.images:  # fl2va: the first frame, and the end frame when there is one
            inputs |= {"image": request.images[0], "last_image": request.images[1] if len(request.images) > 1 else None}
        state = self.pipe(prompt=request.prompt, num_inference_steps=steps, height=request.height,
                          width=request.width, num_frames=request.frames, generator=generator, output_type="pt",
                          refvid_on_step=on_step, **inputs)
        frames = frames_uint8(state.get("videos"))
        audio, rate = None, 0
        if request.want_audio:
            rate = int(state.get("sampling_rate") or self.audio_rate)
            audio = samples_float32(state.get("audio"))
            if audio.shape[1] < request.duration_s * rate:  # extended past the model's longest clip
                audio = fade_out(audio, rate)
        info = {"workflow": workflow, "labels": request.prompt, "native_frames": request.frames,
                "references": [f"{r.kind}_urls[{r.index}]" for r in request.references],
                "duration_mapping": self.duration_mapping(request)}
        return Rendered(frames=frames, fps=self.config.fps, steps=steps, audio=audio, sample_rate=rate, info=info)

    def duration_mapping(self, request: RenderRequest) -> str:
        wanted = request.duration_s * self.config.fps
        if request.frames > wanted:
            return "trimmed"
        return "extended" if request.frames < wanted else "exact"

    def close(self) -> None:
        self.pipe = None


ADAPTER = MiniMaxH3Adapter

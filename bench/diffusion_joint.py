"""The joint audio+video models for bench/diffusion.py (`--model minimax-h3 | ltx2`).

Real sizes come from the diffusers 0.42.1 constructors' defaults (which are the published configs: H3 DiT
33.1B, LTX-2.0 DiT 18.9B) and, for the text encoders, the published Qwen3-VL-32B and Gemma-3-12B configs.
Counting happens on the meta device (nothing is allocated), so the memory plan prints on any machine; the
`--tiny` times one task on the tiny test pipelines (a smoke test of the code path, CPU or CUDA).
Real-size timing is not built yet.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from refvid.engines.diffusion.adapters.common import hf, known_deprecations

QWEN3_VL_32B = {
    "text_config": {"vocab_size": 151936, "hidden_size": 5120, "intermediate_size": 25600, "num_hidden_layers": 64,
                    "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128,
                    "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": True}},
    "vision_config": {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
                      "out_hidden_size": 5120, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                      "deepstack_visual_indexes": [8, 16, 24]},
}
GEMMA3_12B = {
    "text_config": {"vocab_size": 262208, "hidden_size": 3840, "intermediate_size": 15360, "num_hidden_layers": 48,
                    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256},
    "vision_config": {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27,
                      "num_attention_heads": 16, "image_size": 896, "patch_size": 14},
}


def components(model: str) -> dict[str, Callable[[], Any]]:
    """Real-size constructors per component (random weights)."""
    diffusers, transformers = hf("diffusers"), hf("transformers")
    if model == "minimax-h3":
        return {
            "transformer_ref": diffusers.MiniMaxH3Transformer3DModel,
            "vae": diffusers.AutoencoderKLMiniMaxH3,
            "audio_vae": diffusers.AutoencoderKLMiniMaxH3Audio,
            "text_encoder": lambda: transformers.Qwen3VLForConditionalGeneration(
                transformers.Qwen3VLConfig(**QWEN3_VL_32B)),
        }
    ltx2 = hf("diffusers.pipelines.ltx2")
    return {
        "transformer": diffusers.LTX2VideoTransformer3DModel,
        "connectors": ltx2.LTX2TextConnectors,
        "vae": diffusers.AutoencoderKLLTX2Video,
        "audio_vae": diffusers.AutoencoderKLLTX2Audio,
        "vocoder": hf("diffusers.pipelines.ltx2.vocoder").LTX2Vocoder,
        "text_encoder": lambda: transformers.Gemma3ForConditionalGeneration(transformers.Gemma3Config(**GEMMA3_12B)),
    }


def memory_plan(model: str) -> dict[str, Any]:
    """Parameters per component (meta device) and the bf16 GiB resident on the GPU under each placement."""
    import torch

    sizes: dict[str, float] = {}
    with torch.device("meta"), known_deprecations():
        for name, build in components(model).items():
            sizes[name] = sum(p.numel() for p in build().parameters()) / 1e9
    gib = {name: round(billions * 2e9 / 2**30, 1) for name, billions in sizes.items()}
    big = "transformer_ref" if model == "minimax-h3" else "transformer"
    rest = sum(v for k, v in gib.items() if k not in (big, "text_encoder"))
    plans = {
        "all on the GPU": round(sum(gib.values()), 1),
        # H3 on CUDA by default (refvid's swap blocks); for LTX-2 the same figure is what offload would give
        "encoder and DiT take turns": round(max(gib["text_encoder"], gib[big]) + rest, 1),
        "REFVID_DIFFUSION_CPU_OFFLOAD=1 (one model at a time)": round(max(gib.values()), 1),
    }
    return {"model": model, "params_b": {k: round(v, 3) for k, v in sizes.items()},
            "bf16_gib": gib, "gpu_weights_gib": plans}


def timed_task(model: str, device: str) -> dict[str, Any]:
    """One 5 s task with two reference images through the adapter, on the tiny test pipeline."""
    import numpy as np
    from PIL import Image

    from refvid.engines.diffusion.adapters.ltx2 import Ltx2Adapter
    from refvid.engines.diffusion.adapters.minimax_h3 import MiniMaxH3Adapter
    from refvid.engines.diffusion.plan import PRESETS, Placement, RenderRequest
    from refvid.engines.diffusion.tiny_weights import write_tiny_weights
    from refvid.media.info import MediaInfo, Reference

    folder = write_tiny_weights(Path(tempfile.mkdtemp()), model)
    adapter: Any = (MiniMaxH3Adapter if model == "minimax-h3" else Ltx2Adapter)(folder)
    adapter.load(Placement(device, PRESETS["balanced"]))
    rng = np.random.default_rng(0)
    references = []
    for i in range(2):
        path = folder / f"bench{i}.png"
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(path)
        references.append(Reference("image", i, path.name, path, MediaInfo("image", "png", path.stat().st_size)))
    images = [Image.open(ref.path).convert("RGB").resize((64, 32)) for ref in references]
    request = RenderRequest(prompt="a bench", images=images, control=None, width=64, height=32,
                            frames=124 if model == "minimax-h3" else 121, seed=0, want_audio=True,
                            references=references, duration_s=5)
    marks: list[float] = []

    def on_step(done: int, total: int) -> bool:
        marks.append(time.perf_counter())
        return False

    start = time.perf_counter()
    rendered = adapter.render(request, on_step)
    return {"model": model, "device": device, "tiny": True, "end_to_end_s": round(time.perf_counter() - start, 2),
            "steps": len(marks), "frames": len(rendered.frames), "sample_rate": rendered.sample_rate}


def bench_joint(model: str, device: str, tiny: bool) -> None:
    """Memory plan always; a timed task with `--tiny` (any device). Real-size timing is not built yet: it needs
    the adapters to take in-memory real-size components (~70-130 GiB), see docs/engines.md."""
    print(json.dumps(memory_plan(model)), flush=True)
    if tiny:
        print(json.dumps(timed_task(model, device)), flush=True)
    else:
        print("# real-size timing of the joint models is not implemented yet; memory plan only", file=sys.stderr)

"""Diffusion engine speed: plain diffusers vs each refvid preset, same process, same inputs.

Real-size architecture (Wan 2.1 VACE 1.3B transformer, Wan VAE, UMT5-XXL text encoder) with random weights
built from configs: nothing is downloaded, and step time does not depend on weight values (cache hit rates
do: First Block Cache skips are decided by residual differences, which random weights do not reproduce).
The run mirrors a real task: 480p (832×480), 81 frames, one reference image and a control video.

    python bench/diffusion.py                      # CUDA, real size, every preset
    python bench/diffusion.py --tiny --device cpu  # smoke test of this script (seconds)

`--model minimax-h3` / `--model ltx2`: the joint audio+video models at their published sizes (H3: 33.1B DiT,
2.6B video VAE, 0.15B audio VAE, Qwen3-VL-32B encoder; LTX-2.0: 18.9B DiT, 1.4B connectors, VAEs, vocoder,
Gemma-3-12B encoder). On CPU: parameter counts on the meta device (nothing allocated) and the memory plan of
each placement. `--tiny` also times one task through the adapter on the tiny test pipelines (a smoke test of
the code path); real-size timing of these two is not built yet.

Prints one JSON line per configuration and a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from refvid.engines.diffusion.adapters.common import hf, offline_env
from refvid.engines.diffusion.adapters.wan import WanVaceAdapter
from refvid.engines.diffusion.plan import PRESETS, Placement, RenderRequest

VACE_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                 out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                 qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
                 vace_layers=list(range(0, 30, 2)), vace_in_channels=96)
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128,
                feed_forward_proj="gated-gelu", dense_act_fn="gelu_new", is_gated_act=True, dropout_rate=0.0)


def build_pipeline(tiny: bool, device: str) -> Any:
    """A WanVACEPipeline with random weights, constructed directly on `device` (fast init)."""
    import torch

    from refvid.engines.diffusion.tiny_weights import _tokenizer, build_tiny_wan_vace

    if tiny:
        return build_tiny_wan_vace(device)
    diffusers, transformers = hf("diffusers"), hf("transformers")
    dtype = torch.bfloat16
    torch.manual_seed(0)
    with torch.device(device):
        transformer = diffusers.WanVACETransformer3DModel(**VACE_1_3B).to(dtype).eval()
        vae = diffusers.AutoencoderKLWan().eval()  # the default config is Wan 2.1's VAE; fp32 as in the engine
        text = transformers.UMT5EncoderModel(transformers.UMT5Config(**UMT5_XXL)).to(dtype).eval()
    scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                  num_train_timesteps=1000, flow_shift=3.0)
    return diffusers.WanVACEPipeline(tokenizer=_tokenizer(), text_encoder=text, vae=vae, transformer=transformer,
                                     scheduler=scheduler)


def inputs(width: int, height: int, frames: int) -> tuple[list[Image.Image], np.ndarray]:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (height, width // 2, 3), dtype=np.uint8))
    control = np.repeat(rng.integers(0, 255, (1, height, width, 3), dtype=np.uint8), frames, axis=0)
    return [image], control


def timed(fn: Any, device: str) -> tuple[float, list[float]]:
    """Run fn(on_step); return end-to-end seconds and per-step intervals (synchronised on CUDA)."""
    import torch

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    marks: list[float] = []

    def on_step(done: int, total: int) -> bool:
        sync()
        marks.append(time.perf_counter())
        return False

    sync()
    start = time.perf_counter()
    fn(on_step)
    sync()
    end = time.perf_counter()
    steps = [b - a for a, b in zip([start, *marks], marks, strict=False)][1:]  # step 1 includes encoding
    return end - start, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="wan-vace", choices=["wan-vace", "minimax-h3", "ltx2"])
    parser.add_argument("--tiny", action="store_true", help="tiny random model (smoke test)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--presets", default="baseline,quality,balanced,fast",
                        help="in this order: compiled blocks stay compiled for the configurations after")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--baseline-steps", type=int, default=30, help="plain diffusers step count")
    args = parser.parse_args()
    offline_env()
    import torch

    if args.model != "wan-vace":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from diffusion_joint import bench_joint  # bench/diffusion_joint.py, beside this script

        bench_joint(args.model, args.device, args.tiny)
        return

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: use --tiny --device cpu for a smoke run")
    width, height, frames = (64, 32, 17) if args.tiny else (args.width, args.height, args.frames)
    t0 = time.perf_counter()
    pipe = build_pipeline(args.tiny, args.device)
    print(f"# built in {time.perf_counter() - t0:.1f}s on {args.device}"
          f" ({torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'})", file=sys.stderr)
    images, control = inputs(width, height, frames)
    folder = Path(tempfile.mkdtemp())
    scale = 0.1 if args.tiny else 1.0  # tiny: a handful of steps per configuration
    steps_cfg = {name: max(2, round(p.steps * scale)) for name, p in PRESETS.items()}
    (folder / "refvid.json").write_text(json.dumps({"steps": steps_cfg, "max_sequence_length": 512}))
    adapter = WanVaceAdapter(folder)
    rows = []
    for name in args.presets.split(","):
        preset = PRESETS.get(name)
        steps = max(2, round(args.baseline_steps * scale)) if preset is None else steps_cfg[name]
        if preset is None:  # plain diffusers: the pipeline as built, called directly
            pipe.to(args.device)
            if pipe.transformer.is_cache_enabled:
                pipe.transformer.disable_cache()

            def run(on_step: Any, steps: int = steps) -> None:
                g = torch.Generator("cpu").manual_seed(0)
                pipe(prompt="a bench", reference_images=images, video=[Image.fromarray(f) for f in control],
                     height=height, width=width, num_frames=frames, num_inference_steps=steps, generator=g,
                     callback_on_step_end=lambda p, i, t, kw: (on_step(i + 1, steps), kw)[1], output_type="np")
        else:
            adapter.attach(pipe, Placement(args.device, preset))

            def run(on_step: Any, steps: int = steps) -> None:
                request = RenderRequest(prompt="a bench", images=images, control=control, width=width,
                                        height=height, frames=frames, seed=0)
                adapter.render(request, on_step)

        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        warm, _ = timed(run, args.device)  # warm-up: compile, cuDNN autotune, allocator
        total, step_times = timed(run, args.device)
        peak = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else 0.0
        row = {"config": name, "steps": steps, "s_per_step": round(statistics.median(step_times or [0.0]), 4),
               "end_to_end_s": round(total, 2), "warmup_s": round(warm, 2), "peak_gib": round(peak, 1),
               "size": f"{width}x{height}x{frames}", "device": args.device, "tiny": args.tiny}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| config | steps | s/step | end-to-end s | warm-up s | peak GiB |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['steps']} | {r['s_per_step']} | {r['end_to_end_s']} | {r['warmup_s']} "
              f"| {r['peak_gib']} |")


if __name__ == "__main__":
    main()

"""Tiny, randomly initialised pipelines written with `save_pretrained`, for tests and demos.

`write_tiny_weights(DIR, model)` creates `DIR/<model>/`: `wan-vace` (a `WanVACEPipeline` folder), `minimax-h3`
(`MiniMaxH3ModularPipeline` with both DiT partitions: ref2va, t2va, fl2va) or `ltx2` (an `LTX2Pipeline` folder
with an in-context LoRA under `ic_lora/`), each about 1 MB, built from constructor configs (engines.md §3) with
tokenizers and processors made offline, plus a `refvid.json` that shrinks the native grid and step count.
The diffusion engine then loads them exactly like real weights (`REFVID_DIFFUSION_WEIGHTS=DIR`). The output is
structured noise, not a picture: the point is the code path, on CPU, in seconds.
"""

from __future__ import annotations

import json
import shutil
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from refvid.engines.diffusion.adapters.common import hf
from refvid.engines.diffusion.capabilities import CONFIG_FILE

TINY_CONFIG: dict[str, Any] = {
    "adapter": "wan",
    "areas": {"480p": 64 * 32, "720p": 64 * 32},  # 64×32 for 16:9, 48×48 for 1:1
    "steps": {"quality": 2, "balanced": 2, "fast": 2},
    "max_sequence_length": 32,
    "negative_prompt": "blurry",
}


def _tokenizer() -> Any:
    """A character-level fast tokenizer (no hub): different prompts give different embeddings."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

    transformers = hf("transformers")
    specials = ["<pad>", "</s>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials + list(string.printable[:95]))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))  # noqa: S106 (a token, not a password)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")  # noqa: S106


def _wan_vace(folder: Path) -> None:
    pipe = build_tiny_wan_vace()
    pipe.save_pretrained(folder, safe_serialization=True)


def build_tiny_wan_vace(device: str = "cpu") -> Any:
    """The tiny WanVACEPipeline in memory (diffusers' own test-suite sizes, engines.md §3)."""
    import torch

    diffusers, transformers = hf("diffusers"), hf("transformers")
    with torch.random.fork_rng(), torch.device(device):  # same weights every time, caller's RNG untouched
        torch.manual_seed(0)
        vae = diffusers.AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                         temperal_downsample=[False, True, True])
        text_encoder = transformers.UMT5EncoderModel(transformers.UMT5Config(
            vocab_size=100, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, dropout_rate=0.0)).eval()
        # VACE blocks at layers 0 and 2: enough for reference/control conditioning to change the output.
        transformer = diffusers.WanVACETransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
            text_dim=32, freq_dim=256, ffn_dim=32, num_layers=3, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32, vace_layers=[0, 2], vace_in_channels=96)
    return diffusers.WanVACEPipeline(
        tokenizer=_tokenizer(), text_encoder=text_encoder, vae=vae, transformer=transformer,
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0), transformer_2=None)


def _minimax_h3(folder: Path) -> None:
    from refvid.engines.diffusion.tiny_joint import build_tiny_minimax_h3

    build_tiny_minimax_h3().save_pretrained(str(folder), overwrite_modular_index=True)


def _ltx2(folder: Path) -> None:
    from refvid.engines.diffusion.tiny_joint import build_tiny_ltx2, write_tiny_ic_lora

    pipe = build_tiny_ltx2(_tokenizer())
    pipe.save_pretrained(folder, safe_serialization=True)
    write_tiny_ic_lora(pipe, folder / "ic_lora")


# One forward pass per step (no CFG/STG/modality guidance): the tiny model has 2 blocks, and tests stay fast.
LTX2_ONE_PASS = {"stg_scale": 0.0, "modality_scale": 1.0, "guidance_rescale": 0.0, "audio_guidance_scale": 1.0,
                 "audio_stg_scale": 0.0, "audio_modality_scale": 1.0, "audio_guidance_rescale": 0.0,
                 "spatio_temporal_guidance_blocks": None, "use_cross_timestep": False}
SMALL = {"areas": {"480p": 64 * 32, "720p": 64 * 32}, "steps": {"quality": 2, "balanced": 2, "fast": 2}}
BUILDERS: dict[str, Callable[[Path], None]] = {"wan-vace": _wan_vace, "minimax-h3": _minimax_h3, "ltx2": _ltx2}
CONFIGS: dict[str, dict[str, Any]] = {
    "wan-vace": TINY_CONFIG,
    "minimax-h3": {"adapter": "minimax_h3", **SMALL, "steps": {"quality": 3, "balanced": 3, "fast": 3}},
    "ltx2": {"adapter": "ltx2", **SMALL, "max_sequence_length": 32, "guidance_scale": 1.0, "call": LTX2_ONE_PASS},
}


def write_tiny_weights(dest: Path, model: str = "wan-vace") -> Path:
    """Write a tiny random `model` pipeline to `dest/<model>/` (replacing one already there); return it."""
    if model not in BUILDERS:
        raise ValueError(f"unknown tiny model {model!r}; choose one of {', '.join(BUILDERS)}")
    folder = Path(dest) / model
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    BUILDERS[model](partial)
    (partial / CONFIG_FILE).write_text(json.dumps(CONFIGS[model], indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)  # a half-written folder is never mistaken for weights
    return folder

"""A tiny random Wan 2.1 text-to-video diffusers folder for the real SGLang server the tests start.

SGLang recognises a model folder by `model_index.json` (`_class_name` `WanPipeline`: text-to-video) and its
name, so the folder is named like the real one, `Wan2.1-T2V-1.3B-Diffusers`. The components are those of
refvid's own tiny Wan VACE pipeline (`refvid dev tiny-weights`: UMT5 encoder, Wan VAE, offline tokenizer, same
seed) with a plain 2-layer `WanTransformer3DModel` in place of the VACE one, written with `save_pretrained`:
about 300 kB, built offline in seconds, the same bytes every time. The output is noise; the point is the
server's real HTTP, scheduler and video-encoding path on a CPU.

The folder is cached beside SGLang's virtualenv and rebuilt when this file or refvid's tiny weights change.
It is built in a child process (`python -m tests.support.sglang.tiny_wan DEST`) so that torch and diffusers
stay out of the test process.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from refvid.engines.diffusion import tiny_weights
from refvid.engines.diffusion.adapters.common import hf

FOLDER_NAME = "Wan2.1-T2V-1.3B-Diffusers"
_STAMP = "built.stamp"


def build_tiny_wan_t2v() -> Any:
    """The tiny `WanPipeline` in memory, deterministic (the caller's RNG is left alone)."""
    import torch

    diffusers = hf("diffusers")
    vace = tiny_weights.build_tiny_wan_vace()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        transformer = diffusers.WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
            text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    return diffusers.WanPipeline(tokenizer=vace.tokenizer, text_encoder=vace.text_encoder, vae=vace.vae,
                                 transformer=transformer, scheduler=vace.scheduler)


def _recipe_hash() -> str:
    """What the folder's bytes depend on: this builder and refvid's tiny components."""
    digest = hashlib.sha256()
    for source in (Path(__file__), Path(tiny_weights.__file__)):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def tiny_wan_folder(cache: Path) -> Path:
    """`cache/models/Wan2.1-T2V-1.3B-Diffusers`, built on first use (one builder at a time across processes)."""
    models = cache / "models"
    models.mkdir(parents=True, exist_ok=True)
    folder, stamp, want = models / FOLDER_NAME, models / _STAMP, _recipe_hash()
    with (models / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if folder.is_dir() and stamp.is_file() and stamp.read_text() == want:
            return folder
        stamp.unlink(missing_ok=True)
        partial = models / (FOLDER_NAME + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, "-m", __name__, str(partial)], check=True, timeout=600)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
        stamp.write_text(want)
    return folder


if __name__ == "__main__":
    build_tiny_wan_t2v().save_pretrained(sys.argv[1], safe_serialization=True)

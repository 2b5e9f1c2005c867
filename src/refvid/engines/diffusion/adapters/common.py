"""Helpers every adapter shares: importing Hugging Face libraries offline, and turning pipeline tensors into
the numpy frames and samples the engine encodes. torch is imported inside the functions that need it, so
that importing an adapter module stays cheap."""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np


def offline_env() -> None:
    """No hub at run time: set before diffusers/transformers are first imported (they read it then)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # MKL picks kernels by buffer alignment unless told otherwise, so on CPU the same seed could give
    # different frames depending on heap state; this must be set before torch (and MKL) load.
    os.environ.setdefault("MKL_CBWR", "COMPATIBLE")


def hf(module: str) -> Any:
    """Import a Hugging Face module (after `offline_env`) as an untyped object: diffusers and transformers
    are only partly typed, so adapters handle them as `Any`."""
    offline_env()
    return importlib.import_module(module)


@contextlib.contextmanager
def known_deprecations() -> Iterator[None]:
    """Silence the deprecations diffusers 0.42.1 itself triggers while building MiniMax-H3's audio VAE
    (`torch.nn.utils.weight_norm`): nothing refvid can change, and the test suite treats warnings as errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.nn\.utils\.weight_norm` is deprecated",
                                category=FutureWarning)
        yield


def quiet(pipe: Any) -> None:
    """No progress bars from diffusers/transformers: worker logs, not terminals."""
    hf("diffusers").utils.logging.disable_progress_bar()
    hf("transformers.utils.logging").disable_progress_bar()
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)


def release_memory() -> None:
    """Give a dropped pipeline's memory back now (CUDA caches included), before the next one loads."""
    import gc

    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def frames_uint8(video: Any) -> np.ndarray:
    """A pipeline's `(1, frames, 3, h, w)` tensor in [0, 1] → `(frames, h, w, 3)` uint8."""
    array = video[0].permute(0, 2, 3, 1).float().cpu().numpy()
    out: np.ndarray = np.clip(array * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def samples_float32(audio: Any) -> np.ndarray:
    """A pipeline's `(1, channels, n)` or `(channels, n)` audio tensor → float32 `[channels, n]` in [-1, 1]."""
    array = audio.float().cpu().numpy()
    array = array[0] if array.ndim == 3 else array
    out: np.ndarray = np.clip(np.atleast_2d(array), -1.0, 1.0).astype(np.float32)
    return out


def fade_out(samples: np.ndarray, rate: int, seconds: float = 0.05) -> np.ndarray:
    """A short linear fade at the end, so a clip padded with silence ends without a click."""
    n = min(samples.shape[1], max(1, round(rate * seconds)))
    out = samples.copy()
    out[:, -n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return out

"""Modular-diffusers plumbing for adapters whose model ships as a `ModularPipeline` (MiniMax-H3).

- `load_modular` builds the pipeline from blocks the adapter has already edited and loads every component from
  the weights folder itself, whatever paths the folder's `modular_model_index.json` recorded when it was saved
  (a hub id, or the directory it was written in): a weights folder can be copied or renamed and still load,
  and nothing ever reaches for the hub.
- `step_block` is the loop leaf that reports each finished step to the engine (progress, cancellation: the
  hook raises `Cancelled`, which leaves the loop at once); `swap_block` moves components between devices at
  a chosen point of the workflow (the text encoder and the transformer take turns on the GPU).

Block classes are created on first use because diffusers is imported lazily.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from refvid.engines.diffusion.adapters.common import hf, known_deprecations

INDEX = "modular_model_index.json"


def load_modular(blocks: Any, folder: Path, dtype: Any) -> Any:
    """`blocks.init_pipeline()` with each component of the index loaded from `folder/<name>` in `dtype`
    (models) and the index's pipeline-level config values (canvas sizes, …) registered."""
    index = json.loads((folder / INDEX).read_text())
    pipe = blocks.init_pipeline()
    wanted = set(pipe.component_names)
    components: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for name, value in index.items():
        if name.startswith("_"):
            continue
        if not isinstance(value, list):
            config[name] = value
        elif name in wanted:
            library, class_name = value[0], value[1]
            cls = getattr(hf(library), class_name)
            if library == "diffusers":
                is_model = hasattr(cls, "dtype") or "Model" in class_name or "Autoencoder" in class_name
                kwargs = {"dtype": dtype} if is_model else {}
                with known_deprecations():
                    components[name] = cls.from_pretrained(folder, subfolder=name, **kwargs)
            else:
                kwargs = {"dtype": dtype} if name == "text_encoder" else {}
                components[name] = cls.from_pretrained(folder / name, **kwargs)
    pipe.update_components(**components)
    if config:
        pipe.register_to_config(**config)
    for model in components.values():
        if hasattr(model, "eval"):
            model.eval()
    return pipe


@functools.cache
def _step_class() -> type:
    mp = hf("diffusers.modular_pipelines")
    utils = hf("diffusers.modular_pipelines.modular_pipeline_utils")

    class RefvidStep(mp.ModularPipelineBlocks):  # type: ignore[misc,name-defined]
        """After each denoising step: tell the engine (progress), which may raise to stop (cancellation)."""

        model_name = "refvid"

        @property
        def description(self) -> str:
            return "refvid: report a finished denoising step; the hook raises to cancel"

        @property
        def inputs(self) -> list[Any]:
            return [utils.InputParam("refvid_on_step", default=None), utils.InputParam("timesteps")]

        def __call__(self, components: Any, block_state: Any, i: int, t: Any) -> tuple[Any, Any]:
            hook = block_state.refvid_on_step
            if hook is not None and hook(i + 1, len(block_state.timesteps)):
                from refvid.errors import Cancelled

                raise Cancelled()
            return components, block_state

    return RefvidStep


@functools.cache
def _swap_class() -> type:
    mp = hf("diffusers.modular_pipelines")

    class RefvidSwap(mp.ModularPipelineBlocks):  # type: ignore[misc,name-defined]
        """Move components to devices at this point of the workflow, in order (memory planning: what leaves
        the GPU goes first, so the two big models are never on it together)."""

        model_name = "refvid"

        def __init__(self, moves: tuple[tuple[str, str], ...] = ()):
            self.moves = moves
            super().__init__()

        @property
        def description(self) -> str:
            return "refvid: move " + ", ".join(f"{name} to {device}" for name, device in self.moves)

        def __call__(self, components: Any, state: Any) -> tuple[Any, Any]:
            import torch

            for name, device in self.moves:
                model = getattr(components, name, None)
                if model is not None:
                    model.to(device)
                    if device == "cpu" and torch.cuda.is_available():
                        torch.cuda.empty_cache()
            return components, state

    return RefvidSwap


def step_block() -> Any:
    return _step_class()()


def swap_block(*moves: tuple[str, str]) -> Any:
    """A block that moves `(component, device)` pairs, in order."""
    return _swap_class()(tuple(moves))

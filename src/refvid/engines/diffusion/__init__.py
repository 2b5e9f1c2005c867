"""The diffusion engine: a diffusers pipeline (adapters/ per model family) kept warm in the worker's child.

This file stays light (no torch): the registry reads `CAPABILITIES` in the API's composition root. Audio is
supported through joint audio (LTX-2) or the reference-audio soundtrack the compositor uses. All three modes
are offered; each task is routed to a weights folder whose adapter serves its mode (`capabilities.py`), else
it fails at once with `no_capable_engine`.
"""

from refvid.contract import MODES
from refvid.engines.base import Capabilities

CAPABILITIES = Capabilities(name="diffusion", factory="refvid.engines.diffusion.engine:DiffusionEngine",
                            resolutions=("480p", "720p"), supports_audio=True, modes=MODES,
                            describe="refvid.engines.diffusion.capabilities:describe_models")

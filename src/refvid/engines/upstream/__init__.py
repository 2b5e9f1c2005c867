"""The upstream engine: a task forwarded to a remote task API (vLLM-Omni, SGLang Diffusion; providers/), its
job followed, and its video copied and conformed into our storage. The operator's pool file names the
upstreams (config.py); routing, slots and health are pool.py's.

This file stays light: the registry reads `CAPABILITIES` in the API's composition root.
"""

from refvid.contract import MODES, RESOLUTIONS
from refvid.engines.base import Capabilities

CAPABILITIES = Capabilities(name="upstream", factory="refvid.engines.upstream.engine:UpstreamEngine",
                            resolutions=RESOLUTIONS, supports_audio=True, modes=MODES,
                            describe="refvid.engines.upstream.offers:describe")

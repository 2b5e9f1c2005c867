"""The relay engine: Seedance 2.0 through the Ark task API (client, payload mapping, upstream sync).

This file stays light: the registry reads `CAPABILITIES` in the API's composition root.
"""

from refvid.contract import MODES, RESOLUTIONS
from refvid.engines.base import Capabilities

CAPABILITIES = Capabilities(name="relay", factory="refvid.engines.relay.engine:RelayEngine",
                            resolutions=RESOLUTIONS, supports_audio=True, modes=MODES)

"""The relay engine: Seedance 2.0 through the Ark task API, configured by `REFVID_ARK_*`. Its code lives with the
other remote task APIs in `engines/upstream/` (`relay.py`, `providers/ark_client.py`, `ark_payload.py`,
`ark_sync.py`); this package keeps the engine's name ("relay", stored in existing tasks) and the old import paths.

This file stays light: the registry reads `CAPABILITIES` in the API's composition root.
"""

from refvid.contract import MODES, RESOLUTIONS
from refvid.engines.base import Capabilities

CAPABILITIES = Capabilities(name="relay", factory="refvid.engines.upstream.relay:RelayEngine",
                            resolutions=RESOLUTIONS, supports_audio=True, modes=MODES)

"""The relay engine now lives in `engines/upstream/relay.py`; this path stays for old imports."""

from refvid.engines.upstream.relay import *  # noqa: F403
from refvid.engines.upstream.relay import MAX_SUBMISSIONS, RelayEngine  # noqa: F401

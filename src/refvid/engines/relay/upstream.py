"""The `sync_upstream` probe now lives in `engines/upstream/providers/ark_sync.py`; this path stays for old imports."""

from refvid.engines.upstream.providers.ark_sync import *  # noqa: F403
from refvid.engines.upstream.providers.ark_sync import _cache as _cache  # tests clear it

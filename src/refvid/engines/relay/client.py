"""The Ark client now lives in `engines/upstream/providers/ark_client.py`; this path stays for old imports."""

from refvid.engines.upstream.providers.ark_client import *  # noqa: F403

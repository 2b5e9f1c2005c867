"""The Ark payload mapping now lives in `engines/upstream/providers/ark_payload.py`; this path stays for old imports."""

from refvid.engines.upstream.providers.ark_payload import *  # noqa: F403

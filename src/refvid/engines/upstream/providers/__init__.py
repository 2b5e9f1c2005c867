"""One module per remote task API the upstream engine can forward to (`ark`, `vllm_omni`, `sglang`). A provider
knows its wire (how a job is created, read, cancelled and where its video is); everything else — the durable
job id, resume, resubmission, pools, retries, progress, conforming the output — is the engine's, stated once.
"""

from __future__ import annotations

from refvid.engines.upstream.providers.base import Provider


def provider_for(name: str) -> Provider:
    """The provider module's singleton for a pool entry's `provider` key."""
    if name == "vllm-omni":
        from refvid.engines.upstream.providers.vllm_omni import VLLM_OMNI

        return VLLM_OMNI
    if name == "sglang":
        from refvid.engines.upstream.providers.sglang import SGLANG

        return SGLANG
    if name == "ark":
        from refvid.engines.upstream.providers.ark import ARK

        return ARK
    raise KeyError(f"no upstream provider {name!r}")

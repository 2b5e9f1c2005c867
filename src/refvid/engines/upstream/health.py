"""Live facts about the pool's upstreams for `GET /v1/models`, as the API process can know them: whether each
answers HTTP right now (a quick probe, remembered for `CACHE_S` so that clients listing models do not
multiply calls), and its jobs in flight across the fleet (the processing tasks whose saved state names it,
read from the store by the composition root). No key and no URL ever leave this module."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from refvid.engines.upstream.config import UpstreamConfig

CACHE_S = 5.0
PROBE_TIMEOUT_S = 1.5
PROBE_PATH = {"vllm-omni": "/v1/models", "sglang": "/v1/models", "ark": "/models"}


def reachable(config: UpstreamConfig) -> bool:
    """Any HTTP answer counts (an upstream without the probed route still answers 404); a refused or silent
    connection does not."""
    headers = {"Authorization": f"Bearer {key}"} if (key := config.key()) else {}
    try:
        with httpx.Client(base_url=config.url, headers=headers, timeout=PROBE_TIMEOUT_S, trust_env=False,
                          follow_redirects=False) as client:
            client.get(PROBE_PATH[config.provider])
    except httpx.HTTPError:
        return False
    return True


class UpstreamStatus:
    """A `ModelStatus` for the API: upstream name → {reachable, in_flight, max_in_flight}."""

    def __init__(self, upstreams: Iterable[UpstreamConfig], engine_states: Callable[[], list[dict[str, Any]]]):
        self._upstreams = tuple(upstreams)
        self._engine_states = engine_states
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, bool]] = (-CACHE_S, {})

    def _reachability(self) -> dict[str, bool]:
        with self._lock:
            at, known = self._cached
            if time.monotonic() - at < CACHE_S:
                return known
            with ThreadPoolExecutor(max_workers=max(1, min(8, len(self._upstreams)))) as probes:
                answers = list(probes.map(reachable, self._upstreams))
            known = {u.name: ok for u, ok in zip(self._upstreams, answers, strict=True)}
            self._cached = (time.monotonic(), known)
            return known

    def __call__(self) -> Mapping[str, Mapping[str, object]]:
        if not self._upstreams:
            return {}
        in_flight: dict[str, int] = {}
        for state in self._engine_states():
            if state.get("upstream_job_id"):
                name = str(state.get("upstream"))
                in_flight[name] = in_flight.get(name, 0) + 1
        up = self._reachability()
        return {u.name: {"healthy": up.get(u.name, False), "in_flight": in_flight.get(u.name, 0)}
                for u in self._upstreams}

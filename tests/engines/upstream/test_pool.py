"""The pool's slots and health (engines/upstream/pool.py): least loaded first, capability routing, claims only
with a reserved slot, and an upstream that keeps failing skipped for a while, then used again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from refvid.engines.upstream.config import UpstreamConfig
from refvid.engines.upstream.pool import UpstreamPool
from tests.support.relay import make_job
from tests.support.upstreams import MODEL, upstream

TEXT = "seedance-2.0-text-to-video"


def config(name: str, **more: object) -> UpstreamConfig:
    return UpstreamConfig.model_validate(upstream(name, "vllm-omni", "http://127.0.0.1:9", **more))


def test_jobs_go_to_the_least_loaded_capable_upstream_and_never_past_max_in_flight(tmp_path: Path) -> None:
    pool = UpstreamPool((config("a", max_in_flight=2), config("b", max_in_flight=2),
                         config("text-only", serves=[TEXT], max_in_flight=5)))
    job = make_job(tmp_path, [], prompt="a cat", model=MODEL)
    taken = [pool.acquire(job) for _ in range(5)]
    names = [m.config.name if m else None for m in taken]
    assert names[:4] in (["a", "b", "a", "b"], ["a", "b", "b", "a"]) and names[4] is None  # text-only cannot
    first = taken[0]
    assert first is not None
    pool.release(first)
    again = pool.acquire(job)
    assert again is not None and again.config.name == first.config.name


def test_a_claim_needs_a_reserved_free_slot(tmp_path: Path) -> None:
    pool = UpstreamPool((config("a", max_in_flight=1),))
    assert pool.reserve()
    other: list[bool] = []
    thread = threading.Thread(target=lambda: other.append(pool.reserve()))
    thread.start()
    thread.join()
    assert other == [False]  # the one slot is reserved by the first claimer
    member = pool.acquire(make_job(tmp_path, [], prompt="a cat"))  # the claimed job takes it (same thread)
    assert member is not None and not pool.reserve()
    pool.release(member)
    assert pool.reserve()


def test_an_upstream_failing_repeatedly_is_skipped_then_used_again(tmp_path: Path) -> None:
    pool = UpstreamPool((config("a"), config("b")))
    a, b = pool.members["a"], pool.members["b"]
    job = make_job(tmp_path, [], prompt="a cat")
    for _ in range(3):
        pool.report(a, False)
    assert pool.snapshot()["a"]["healthy"] is False and pool.snapshot()["b"]["healthy"] is True
    chosen = pool.acquire(job)
    assert chosen is b and pool.acquire(job) is None  # a is skipped, b is full
    a.skipped_until = time.monotonic()  # the cool-down ends
    assert pool.acquire(job) is a
    pool.report(a, True)
    assert pool.snapshot()["a"] == {"healthy": True, "in_flight": 1, "skipped_for_s": 0.0}
    pool.report(b, False, at_once=True)  # a refused connection: skipped at once, for longer each time
    first = b.skipped_until
    b.skipped_until = 0.0
    pool.report(b, False, at_once=True)
    assert b.skipped_until - time.monotonic() > first - time.monotonic()


def test_in_flight_and_health_are_metrics_per_upstream(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    pool = UpstreamPool((config("metered", max_in_flight=3),))
    member = pool.acquire(make_job(tmp_path, [], prompt="a cat"))
    assert member is not None
    assert REGISTRY.get_sample_value("refvid_upstream_in_flight", {"upstream": "metered"}) == 1
    pool.report(member, False, at_once=True)
    assert REGISTRY.get_sample_value("refvid_upstream_healthy", {"upstream": "metered"}) == 0
    pool.release(member)
    pool.report(member, True)
    assert REGISTRY.get_sample_value("refvid_upstream_in_flight", {"upstream": "metered"}) == 0
    assert REGISTRY.get_sample_value("refvid_upstream_healthy", {"upstream": "metered"}) == 1

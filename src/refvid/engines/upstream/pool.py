"""The upstreams of this process: which can take a job, which have a free slot, which are healthy.

One `UpstreamPool` per process and pool file (`for_settings`), shared by every job the process follows: a
job takes a slot on the capable, healthy upstream with the fewest jobs in flight and gives it back when it
ends. An upstream that refuses connections, or fails `FAILURES_TO_SKIP` times in a row, is skipped for a
cool-down that doubles while it keeps failing (`SKIP_S` … `SKIP_MAX_S`); one success makes it healthy again.

`max_in_flight` is counted per process: run the upstream engine in one worker process per pool (or split the
pool between processes) when the limit must hold across the fleet.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from refvid.config import Settings
from refvid.contract import Acceptance, MediaKind
from refvid.engines.base import EngineInput
from refvid.engines.upstream.config import UpstreamConfig, load_upstreams
from refvid.engines.upstream.transport import UpstreamHttp
from refvid.metrics import UPSTREAM_HEALTHY, UPSTREAM_IN_FLIGHT

FAILURES_TO_SKIP = 3
SKIP_S, SKIP_MAX_S = 5.0, 120.0


@dataclass
class Member:
    """One upstream and its live state (guarded by the pool's lock)."""

    config: UpstreamConfig
    in_flight: int = 0
    failures: int = 0
    skipped_until: float = 0.0
    skips: int = 0
    http: UpstreamHttp | None = field(default=None, repr=False)

    def healthy(self, now: float) -> bool:
        return now >= self.skipped_until

    def free(self) -> bool:
        return self.in_flight < self.config.max_in_flight


def acceptance(config: UpstreamConfig, model: str) -> Acceptance:
    """What the upstream accepts for `model`, as the API checks it at submit."""
    family = config.capabilities_for(model)
    kinds: tuple[MediaKind, ...] = ("image", "video", "audio")
    return Acceptance(source=f"upstream {config.name}", max_count=tuple((k, family.max_of(k)) for k in kinds),
                      max_references=family.max_references, min_duration_s=family.min_duration_s,
                      max_duration_s=family.max_duration_s, resolutions=family.resolutions, audio=family.audio)


def refusal(config: UpstreamConfig, job: EngineInput) -> str | None:
    """Why this upstream cannot take the job (None: it can)."""
    if job.model not in config.serves:
        return f"it does not serve {job.model}"
    if job.mode not in config.capabilities.modes:
        return f"it does not do {job.mode}-to-video"
    counts: dict[MediaKind, int] = {kind: len(job.of_kind(kind)) for kind in ("image", "video", "audio")}
    why = acceptance(config, job.model).refusal(counts, -1, job.output.resolution, job.output.generate_audio)
    return why[1] if why else None


class UpstreamPool:
    def __init__(self, configs: tuple[UpstreamConfig, ...]):
        self.members = {config.name: Member(config) for config in configs}
        self._lock = threading.Condition()
        self._reserved = 0  # claims made for a free slot whose job has not taken it yet
        self._local = threading.local()
        for name in self.members:
            UPSTREAM_IN_FLIGHT.labels(name).set(0)
            UPSTREAM_HEALTHY.labels(name).set(1)

    @classmethod
    def for_settings(cls, settings: Settings) -> UpstreamPool:
        """The process's pool for the settings' pool file (read once)."""
        with _SHARED_LOCK:
            if settings.upstreams not in _SHARED:
                _SHARED[settings.upstreams] = cls(load_upstreams(settings.upstreams))
            return _SHARED[settings.upstreams]

    # -- slots ------------------------------------------------------------------------------------------
    def acquire(self, job: EngineInput, exclude: frozenset[str] = frozenset()) -> Member | None:
        """A slot on the capable, healthy, free upstream with the fewest jobs in flight (None: none now)."""
        now = time.monotonic()
        with self._lock:
            candidates = [m for m in self.members.values() if m.config.name not in exclude and m.free()
                          and m.healthy(now) and refusal(m.config, job) is None]
            if not candidates:
                return None
            chosen = min(candidates, key=lambda m: m.in_flight / m.config.max_in_flight)
            self._take(chosen)
            return chosen

    def resume(self, name: str) -> Member | None:
        """The slot of a job already submitted to `name` (taken even when full: the job is there already)."""
        with self._lock:
            member = self.members.get(name)
            if member is not None:
                self._take(member)
            return member

    def release(self, member: Member) -> None:
        with self._lock:
            member.in_flight = max(0, member.in_flight - 1)
            UPSTREAM_IN_FLIGHT.labels(member.config.name).set(member.in_flight)
            self._lock.notify_all()

    def reserve(self) -> bool:
        """Hold one free slot for the task this thread is about to claim (False: none free, do not claim).
        The job's `acquire`/`resume` on this thread consumes it; `unreserve` gives back an unused one."""
        now = time.monotonic()
        with self._lock:
            free = sum(m.config.max_in_flight - m.in_flight for m in self.members.values()
                       if m.free() and m.healthy(now))
            if free - self._reserved <= 0:
                return False
            self._reserved += 1
            self._local.reserved = True
            return True

    def unreserve(self) -> None:
        with self._lock:
            self._consume()
            self._lock.notify_all()

    def _consume(self) -> None:
        if getattr(self._local, "reserved", False):
            self._reserved -= 1
            self._local.reserved = False

    @property
    def total_slots(self) -> int:
        return sum(m.config.max_in_flight for m in self.members.values())

    def wait_for_slot(self, timeout_s: float) -> None:
        with self._lock:
            self._lock.wait(timeout_s)

    def _take(self, member: Member) -> None:
        self._consume()
        member.in_flight += 1
        UPSTREAM_IN_FLIGHT.labels(member.config.name).set(member.in_flight)
        if member.http is None:
            member.http = UpstreamHttp(member.config, on_reachable=lambda ok: self.report(member, ok))

    # -- health -----------------------------------------------------------------------------------------
    def report(self, member: Member, ok: bool, *, at_once: bool = False) -> None:
        """A request to `member` reached it (`ok`) or not; `at_once`: skip it now (it refused a connection)."""
        with self._lock:
            if ok:
                if member.failures or member.skips:
                    self._lock.notify_all()
                member.failures, member.skips, member.skipped_until = 0, 0, 0.0
                UPSTREAM_HEALTHY.labels(member.config.name).set(1)
                return
            member.failures += 1
            if at_once or member.failures >= FAILURES_TO_SKIP:
                member.skipped_until = time.monotonic() + min(SKIP_MAX_S, SKIP_S * 2**member.skips)
                member.skips += 1
                member.failures = 0
                UPSTREAM_HEALTHY.labels(member.config.name).set(0)

    def snapshot(self) -> dict[str, dict[str, object]]:
        """name → health and jobs in flight, for `GET /v1/models`."""
        now = time.monotonic()
        with self._lock:
            return {name: {"healthy": m.healthy(now), "in_flight": m.in_flight,
                           "skipped_for_s": round(max(0.0, m.skipped_until - now), 1)}
                    for name, m in self.members.items()}

    def close(self) -> None:
        for member in self.members.values():
            if member.http is not None:
                member.http.close()


_SHARED: dict[Path | None, UpstreamPool] = {}
_SHARED_LOCK = threading.Lock()

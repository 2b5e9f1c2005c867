"""The worker: claim a task, fetch its references, run its engine in a child, store one outcome.

One `Worker` runs `concurrency` slots (threads). Each slot owns a warm `EngineHost` per engine. While a
task runs, a `Lease` thread renews the lease, stores progress and notices cancellation. Every outcome is
written with the lease token, so a worker that lost its lease can never overwrite a result.

Upstream tasks (engines/upstream) do not take a slot: `followers` threads of the same process follow them,
with one engine instance for all (`InProcessHost`), as many as the pool has slots (`max_in_flight` summed),
at most `REFVID_UPSTREAM_FOLLOWERS` (32). A follower claims only after reserving a free upstream slot, so a
task waiting for one stays pending in the queue, claimable by any worker, instead of waiting inside this one.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refvid.config import Settings
from refvid.contract import VIDEO_MEDIA_TYPES
from refvid.engines.base import EngineOutput
from refvid.errors import Cancelled, Deferred, LeaseLost, StoreUnavailable, TaskFailure
from refvid.media.info import Reference
from refvid.metrics import task_claimed, task_context, task_failed, task_generated
from refvid.storage.base import BlobStore
from refvid.tasks.model import Claim, Task, TaskStatus
from refvid.tasks.store import SqlStore
from refvid.tasks.wakeup import Waker
from refvid.worker.events import JobRequest
from refvid.worker.host import ChildCrashed, EngineHost
from refvid.worker.inprocess import InProcessHost
from refvid.worker.lease import HandBack, Lease, durable
from refvid.worker.references import ReferenceLoader

log = logging.getLogger(__name__)
IDLE_SAFETY_S = 5.0
UPSTREAM = "upstream"
Host = EngineHost | InProcessHost


@dataclass
class WorkerDeps:
    settings: Settings
    store: SqlStore
    blobs: BlobStore
    waker: Waker


class Worker:
    def __init__(self, deps: WorkerDeps, engines: list[str], concurrency: int = 1, name: str | None = None):
        self.deps = deps
        self.engines = engines
        self.concurrency = concurrency
        self.id = name or f"{socket.gethostname()}-{secrets.token_hex(3)}"
        self._stop = threading.Event()
        self._hand_back = threading.Event()
        self._threads: list[threading.Thread] = []
        self._refs = ReferenceLoader(deps.settings, deps.store, deps.blobs)
        self._pool: Any = None
        self.followers = 0
        if UPSTREAM in engines and deps.settings.upstream_followers > 0:
            from refvid.engines.upstream.pool import UpstreamPool

            self._pool = UpstreamPool.for_settings(deps.settings)
            self.followers = min(deps.settings.upstream_followers, self._pool.total_slots)
        # The slots run every engine but the upstream one when followers take it.
        self.slot_engines = [e for e in engines if e != UPSTREAM or not self.followers]

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.deps.store.touch_worker(self.id, self.engines, socket.gethostname())
        for slot in range(self.concurrency):
            thread = threading.Thread(target=self._slot_loop, args=(slot,), name=f"refvid-slot-{slot}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        upstream_host = InProcessHost(UPSTREAM, self.deps.settings)
        for index in range(self.followers):
            thread = threading.Thread(target=self._follow_loop, args=(upstream_host,),
                                      name=f"refvid-follower-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker %s started: engines=%s concurrency=%d upstream followers=%d", self.id, self.engines,
                 self.concurrency, self.followers)

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop claiming; let running tasks finish for `grace_s`, then hand them back to the queue."""
        self._stop.set()
        self.deps.waker.notify()
        deadline = time.monotonic() + grace_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            self._hand_back.set()
            for thread in self._threads:
                thread.join(10)
        try:
            self.deps.store.remove_worker(self.id)
        except StoreUnavailable as exc:  # the row ages out of the live-workers view by itself
            log.warning("worker %s: could not deregister: %s", self.id, exc)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- the loop -----------------------------------------------------------------------------------
    def _follow_loop(self, host: InProcessHost) -> None:
        """A follower: claim an upstream task only with a free upstream slot reserved, then follow its job."""
        waker, store, pool = self.deps.waker, self.deps.store, self._pool
        while not self._stop.is_set():
            if not pool.reserve():
                pool.wait_for_slot(1.0)
                continue
            generation = waker.generation()
            try:
                claim = store.claim_next(self.id, [UPSTREAM], self.deps.settings.lease_s)
            except Exception as exc:
                pool.unreserve()
                log.warning("claim: %s; retrying", exc)
                self._stop.wait(1.0)
                continue
            if claim is None:
                pool.unreserve()
                waker.wait_after(generation, IDLE_SAFETY_S)
                continue
            task_claimed(claim.task.created_at, claim.task.attempts)
            with task_context(claim.task.id):
                try:
                    self.run_claim(claim, host)
                except StoreUnavailable as exc:
                    log.warning("task %s: %s; the reaper retries it", claim.task.id, exc)
                finally:
                    pool.unreserve()

    def _slot_loop(self, slot: int) -> None:
        hosts: dict[str, EngineHost] = {}
        waker, store = self.deps.waker, self.deps.store
        try:
            while not self._stop.is_set():
                generation = waker.generation()
                try:
                    claim = store.claim_next(self.id, self.slot_engines, self.deps.settings.lease_s)
                    if claim is None and slot == 0:
                        store.touch_worker(self.id, self.engines, socket.gethostname())
                except StoreUnavailable as exc:  # an outage: wait and look again, quietly
                    log.warning("claim: %s; retrying", exc)
                    self._stop.wait(1.0)
                    continue
                except Exception:
                    log.exception("claim failed; retrying")
                    self._stop.wait(1.0)
                    continue
                if claim is None:
                    waker.wait_after(generation, IDLE_SAFETY_S)
                    continue
                host = hosts.get(claim.task.engine)
                if host is None:
                    host = hosts[claim.task.engine] = EngineHost(claim.task.engine, self.deps.settings)
                task_claimed(claim.task.created_at, claim.task.attempts)
                with task_context(claim.task.id):  # log records of this run carry task_id
                    try:
                        self.run_claim(claim, host)
                    except StoreUnavailable as exc:  # down for longer than every retry: the reaper takes over
                        log.warning("task %s: %s; its lease will expire and the reaper retries it",
                                    claim.task.id, exc)
        finally:
            for host in hosts.values():
                host.close()

    def run_claim(self, claim: Claim, host: Host) -> None:
        """Run one claimed task to exactly one recorded outcome (or hand it back)."""
        task, token = claim.task, claim.token
        settings, store = self.deps.settings, self.deps.store
        work_dir = settings.data_dir / "work" / f"{task.id}-{task.attempts}"
        lease = Lease(store, self.deps.waker, task.id, token, settings, self._hand_back)
        lease.start()
        started = time.monotonic()
        try:
            output = self._execute(task, work_dir, lease, host)
            lease.raise_if_stopped()  # cancelled (or lost) while the engine finished: do not store it
            result = self._store_output(task, output)
            run_s_per_output_s = (time.monotonic() - started) / max(1.0, float(output.duration_s))
            if not durable(lambda: store.finish(task.id, token, TaskStatus.COMPLETED, result=result,
                                                run_s_per_output_s=run_s_per_output_s)) \
                    and not self._recorded(task.id, result):
                self.deps.blobs.delete_prefix(f"results/{task.id}/{task.attempts}/")
                log.warning("task %s: not recorded as completed (cancelled meanwhile, or lease lost)", task.id)
            else:
                task_generated(task.engine, task.spec.resolution, time.monotonic() - started)
        except (LeaseLost, HandBack, Cancelled) as exc:
            self._after_stop(task, token, lease, exc, host)
        except Deferred as exc:  # no upstream slot for it after all: back to the queue, no attempt counted
            log.info("task %s: %s; back to the queue", task.id, exc.message)
            durable(lambda: store.release(task.id, token))
            if self._pool is not None:
                self._pool.wait_for_slot(1.0)
        except StoreUnavailable as exc:  # a read failed, or a write still failed after every retry
            log.warning("task %s: %s; handing it back to the queue once the store answers", task.id, exc)
            host.kill()
            durable(lambda: store.release(task.id, token))  # the task is not at fault: no attempt counted
        except TaskFailure as exc:
            task_failed(exc.code)
            self._record_failure(task, token, {"code": exc.code, "message": exc.message})
        except ChildCrashed as exc:
            self._after_crash(task, token, str(exc))
        except Exception as exc:  # a bug here must fail one task, not the worker
            log.exception("task %s failed unexpectedly", task.id)
            self._record_failure(task, token, {"code": "generation_failed",
                                               "message": f"{type(exc).__name__}: {exc}"})
        finally:
            lease.stop()
            shutil.rmtree(work_dir, ignore_errors=True)
            self.deps.waker.notify()

    def _execute(self, task: Task, work_dir: Path, lease: Lease, host: Host) -> EngineOutput:
        work_dir.mkdir(parents=True, exist_ok=True)
        # 1. References: fetched, probed and checked against the spec's limits (progress 0–10).
        references: list[Reference] = self._refs.prepare(task, work_dir / "refs", lease.should_stop)
        lease.set_progress(10)
        # 2. The seed is drawn once and saved, so a retried attempt renders the same video.
        state = dict(task.engine_state)
        if "seed" not in state:
            state["seed"] = task.spec.seed if task.spec.seed >= 0 else secrets.randbelow(2**31)
            lease.save_state(state)
        job = JobRequest(task.id, task.spec, int(state["seed"]), references, work_dir, state)
        # 3. The engine, in its child process (progress 10–95).
        lease.raise_if_stopped()
        return host.run(
            job,
            on_progress=lambda pct: lease.set_progress(10 + pct * 0.85),
            on_state=lease.save_state,
            stop_reason=lease.stop_reason,
            timeout_s=self.deps.settings.task_timeout_s,
        )

    def _recorded(self, task_id: str, result: dict[str, Any]) -> bool:
        """Whether this very result is the task's (a retried `finish` whose first COMMIT did land, though
        the connection broke before it said so, answers False the second time)."""
        current = durable(lambda: self.deps.store.get_task(task_id))
        return current is not None and current.status == TaskStatus.COMPLETED and current.result == result

    def _store_output(self, task: Task, output: EngineOutput) -> dict[str, Any]:
        prefix = f"results/{task.id}/{task.attempts}/"
        container = output.video_path.suffix.lstrip(".").lower()  # mp4 or mov (`worker.child.delivered`)
        video_key = f"{prefix}video.{container}"
        try:
            self.deps.blobs.put_file(video_key, output.video_path, VIDEO_MEDIA_TYPES[container])
            thumb_key = None
            if output.thumbnail_path is not None and output.thumbnail_path.is_file():
                thumb_key = prefix + "thumbnail.jpg"
                self.deps.blobs.put_file(thumb_key, output.thumbnail_path, "image/jpeg")
        except Exception as exc:
            self.deps.blobs.delete_prefix(prefix)
            raise TaskFailure(f"could not store the output: {exc}", code="generation_failed") from exc
        return {
            "video_key": video_key, "thumbnail_key": thumb_key, "seed": output.seed,
            "width": output.width, "height": output.height, "duration": output.duration_s, "fps": output.fps,
            "has_audio": output.has_audio, "extra": output.extra,
        }

    def _after_stop(self, task: Task, token: str, lease: Lease, exc: Exception, host: Host) -> None:
        # The engine only knows "stop"; the lease knows why.
        if isinstance(exc, LeaseLost) or lease.lost.is_set():
            host.kill()
            log.warning("task %s: lease lost, stopped working on it", task.id)
        elif isinstance(exc, HandBack) or (not lease.cancelled.is_set() and self._hand_back.is_set()):
            durable(lambda: self.deps.store.release(task.id, token))
        else:
            durable(lambda: self.deps.store.finish(task.id, token, TaskStatus.CANCELLED))

    def _after_crash(self, task: Task, token: str, why: str) -> None:
        store, max_attempts = self.deps.store, self.deps.settings.max_attempts
        if task.attempts < max_attempts:
            log.warning("task %s: %s; retrying (attempt %d of %d)", task.id, why, task.attempts, max_attempts)
            durable(lambda: store.requeue(task.id, token))
        else:
            self._record_failure(task, token, {
                "code": "worker_lost", "message": f"{why}; gave up after {task.attempts} attempts"})

    def _record_failure(self, task: Task, token: str, error: dict[str, Any]) -> None:
        """Record a failure, retrying through a store outage (`durable`)."""
        durable(lambda: self.deps.store.finish(task.id, token, TaskStatus.FAILED, error=error))

"""The upstream engine's recipe for one task: take a slot, submit (saving the job id before anything else),
follow, copy and conform the video.

- **Exactly one live upstream job per attempt.** The job id is saved with `ctx.save_state` as soon as the
  create call answers; an attempt that finds one in `ctx.state` (a restarted worker, a re-claimed task)
  resumes following it on the same upstream instead of submitting again.
- **A forgotten job** (404: the upstream restarted and its in-memory job store is empty) is resubmitted once
  (`MAX_SUBMISSIONS`); a second loss fails the task with `upstream_error`, never a hang.
- **Failures**: a job the upstream failed fails the task with the upstream's own message (`upstream_rejected`
  when it blames the input, else `upstream_error`); transport errors and 5xx answers without a job body are
  retried with backoff (transport.py) and never count as the job's failure: while the upstream stays
  unreachable the job is followed on (it may come back with it) until `job_timeout_s`.
- **Cancel**: a client's cancel deletes the job where the provider can stop it (vLLM-Omni, queued or running);
  where it cannot (SGLang) the task says `can_cancel: false` from the submission on. A worker handing the task
  back (shutdown) leaves the job alone: the next attempt resumes it.
- **Progress**: these upstreams report nothing between 0 and 100, so progress is an estimate from the time since
  submission against the upstream's `expected_run_s` (asymptotic to 90 %, never a promise).
- **Output**: whatever size, fps, length and sound the upstream made is conformed to the contract's exact MP4.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from refvid.config import Settings
from refvid.engines.base import BaseEngine, EngineContext, EngineInput, EngineOutput
from refvid.engines.upstream import CAPABILITIES
from refvid.engines.upstream.pool import Member, UpstreamPool, refusal
from refvid.engines.upstream.providers import provider_for
from refvid.engines.upstream.providers.base import JobState
from refvid.engines.upstream.stopping import cancellable_sleep, stop_reason
from refvid.engines.upstream.transport import JobGone, Refused, Unreachable
from refvid.errors import Cancelled, Deferred, TaskFailure
from refvid.metrics import UPSTREAM_FAILURES, UPSTREAM_JOB_SECONDS
from refvid.net.guard import safe_client

log = logging.getLogger(__name__)
MAX_SUBMISSIONS = 2  # the first job, and one resubmission of a job the upstream forgot
# Conforming decodes and encodes a whole clip: at most this many at once per process, whatever the followers.
_CONFORMS = threading.BoundedSemaphore(2)


def progress_estimate(elapsed_s: float, expected_s: float) -> float:
    """10 → 90 % asymptotically with the time since submission (half way at `expected_s`)."""
    return 10.0 + 80.0 * elapsed_s / (elapsed_s + max(1.0, expected_s))


class UpstreamEngine(BaseEngine):
    """One instance per process, shared by every job it follows (no state per job on the instance)."""

    capabilities = CAPABILITIES

    def __init__(self, settings: Settings, pool: UpstreamPool | None = None):
        self.settings = settings
        self.pool = pool or UpstreamPool.for_settings(settings)
        self._public: httpx.Client | None = None  # results on a public object store (Ark), one for all jobs
        self._public_lock = threading.Lock()

    def public_client(self) -> httpx.Client:
        with self._public_lock:
            if self._public is None:
                self._public = safe_client(self.settings, timeout_s=60.0)
            return self._public

    def generate(self, job: EngineInput, ctx: EngineContext) -> EngineOutput:
        sleep = cancellable_sleep(ctx)
        state = dict(ctx.state)
        # 1. The slot: the upstream of a job submitted earlier, or the best free one (else back to the queue).
        member = self._resume(state) if state.get("upstream_job_id") else self._choose(job)
        try:
            # 2. Submit (the id is saved before anything else), unless resuming.
            if not state.get("upstream_job_id"):
                member = self._submit(job, ctx, state, member, sleep)
            # 3. Follow until it ends (a client's cancel deletes the job where the provider can).
            try:
                done = self._follow(job, ctx, state, member, sleep)
            except Cancelled:
                if stop_reason(ctx) == "cancel":
                    self._cancel(member, state)
                raise
            # 4. Copy and conform the video (90–100 %).
            return self._finish(job, ctx, state, member, done, sleep)
        finally:
            self.pool.release(member)

    # -- steps --------------------------------------------------------------------------------------------
    def _resume(self, state: dict[str, Any]) -> Member:
        member = self.pool.resume(str(state.get("upstream")))
        if member is None:
            raise TaskFailure(f"this task's job {state['upstream_job_id']} is on upstream {state.get('upstream')!r}, "
                              "which the pool file no longer names", code="upstream_error")
        log.info("resuming upstream job %s on %s", state["upstream_job_id"], member.config.name)
        return member

    def _choose(self, job: EngineInput) -> Member:
        member = self.pool.acquire(job)
        if member is not None:
            return member
        reasons = {m.config.name: refusal(m.config, job) for m in self.pool.members.values()}
        if reasons and all(reasons.values()):
            raise TaskFailure("no configured upstream can take this task: " + "; ".join(
                f"{name}: {why}" for name, why in reasons.items()), code="upstream_rejected")
        raise Deferred("every upstream able to take this task is busy or skipped")

    def _submit(self, job: EngineInput, ctx: EngineContext, state: dict[str, Any], member: Member,
                sleep: Callable[[float], None]) -> Member:
        """Create the job (on another upstream if this one refuses connections) and save its id at once."""
        tried: set[str] = set()
        while True:
            if ctx.cancelled():
                raise Cancelled()
            provider, http = provider_for(member.config.provider), member.http
            assert http is not None
            try:
                job_id = provider.submit(http, job, sleep)
                break
            except Refused:
                self.pool.report(member, False, at_once=True)
                tried.add(member.config.name)
                self.pool.release(member)
                other = self.pool.acquire(job, exclude=frozenset(tried))
                if other is None:
                    self.pool.resume(member.config.name)  # `generate` releases the slot it believes it holds
                    raise Deferred(f"upstream {member.config.name} refuses connections and no other is free") \
                        from None
                member = other
        submissions = int(state.get("upstream_submissions", 0)) + 1
        state.update(upstream=member.config.name, upstream_job_id=job_id, upstream_submissions=submissions,
                     upstream_submitted_at=time.time(), upstream_status="queued",
                     cancellable=provider.cancels_running)
        ctx.save_state(state)
        log.info("task %s: submitted upstream job %s to %s", job.task_id, job_id, member.config.name)
        ctx.progress(2, "submitted upstream")
        return member

    def _follow(self, job: EngineInput, ctx: EngineContext, state: dict[str, Any], member: Member,
                sleep: Callable[[float], None]) -> JobState:
        config, provider, http = member.config, provider_for(member.config.provider), member.http
        assert http is not None
        while True:
            job_id = str(state["upstream_job_id"])
            try:
                seen = provider.poll(http, job_id, sleep)
            except JobGone:
                UPSTREAM_FAILURES.labels(config.name, "job_lost").inc()
                if int(state.get("upstream_submissions", 1)) >= MAX_SUBMISSIONS:
                    raise TaskFailure(f"upstream {config.name} lost job {job_id} (it restarted?) after a "
                                      "resubmission already; giving up", code="upstream_error") from None
                log.warning("task %s: upstream %s forgot job %s; submitting once more", job.task_id, config.name,
                            job_id)
                state.pop("upstream_job_id")
                self._submit_again(job, ctx, state, member, sleep)
                continue
            except Unreachable as exc:  # down for a while (transport.py retried): the job may live on there
                if time.time() - float(state.get("upstream_submitted_at", 0.0)) > config.job_timeout_s:
                    raise
                log.warning("task %s: %s; still following job %s", job.task_id, exc.message, job_id)
                sleep(config.poll_interval_s)
                continue
            elapsed = time.time() - float(state.get("upstream_submitted_at", time.time()))
            if seen.status == "completed":
                UPSTREAM_JOB_SECONDS.labels(config.name).observe(elapsed)
                return seen
            if seen.status == "failed":
                UPSTREAM_FAILURES.labels(config.name, "job_failed").inc()
                raise TaskFailure(f"upstream {config.name} failed job {job_id}: {seen.message or 'no reason given'}",
                                  code="upstream_rejected" if seen.rejected else "upstream_error")
            if elapsed > config.job_timeout_s:
                self._cancel(member, state)
                raise TaskFailure(f"upstream {config.name} did not finish job {job_id} within "
                                  f"{config.job_timeout_s:.0f} s", code="generation_timeout")
            if seen.status == "running" and state.get("upstream_status") != "running":
                state.update(upstream_status="running", cancellable=provider.cancels_running)
                ctx.save_state(state)
            ctx.progress(progress_estimate(elapsed, config.expected_run_s), seen.status)
            sleep(config.poll_interval_s)

    def _submit_again(self, job: EngineInput, ctx: EngineContext, state: dict[str, Any], member: Member,
                      sleep: Callable[[float], None]) -> None:
        provider, http = provider_for(member.config.provider), member.http
        assert http is not None
        job_id = provider.submit(http, job, sleep)
        state.update(upstream_job_id=job_id, upstream_submissions=int(state.get("upstream_submissions", 1)) + 1,
                     upstream_submitted_at=time.time(), upstream_status="queued",
                     cancellable=provider.cancels_running)
        ctx.save_state(state)

    def _cancel(self, member: Member, state: dict[str, Any]) -> None:
        provider, http = provider_for(member.config.provider), member.http
        job_id = state.get("upstream_job_id")
        if job_id and http is not None and (provider.cancels_running or state.get("upstream_status") == "queued"):
            provider.cancel(http, str(job_id))

    def _finish(self, job: EngineInput, ctx: EngineContext, state: dict[str, Any], member: Member, done: JobState,
                sleep: Callable[[float], None]) -> EngineOutput:
        from refvid.media import soundtrack
        from refvid.media.conform import conform_video

        http = member.http
        assert http is not None
        ctx.progress(90, "downloading the upstream's video")
        started = time.monotonic()
        source = job.work_dir / "upstream.mp4"
        provider = provider_for(member.config.provider)
        elsewhere = None if provider.results_on_own_origin else self.public_client()
        http.download(done.content, source, sleep, elsewhere=elsewhere)
        out = job.output
        dest, thumb = job.work_dir / job.output.video_name, job.work_dir / "thumbnail.jpg"

        def check() -> None:
            if ctx.cancelled():
                raise Cancelled()

        with _CONFORMS:
            ctx.progress(93, "conforming to the contract")
            try:
                made = conform_video(source, dest, thumb, width=out.width, height=out.height, fps=out.fps,
                                     frames=out.frames, audio=out.generate_audio,
                                     fallback_audio=lambda: soundtrack.for_job(job), check=check)
            except (ValueError, OSError) as exc:
                raise TaskFailure(f"upstream {member.config.name}'s video cannot be read: {exc}",
                                  code="upstream_error") from exc
        ctx.progress(100, "done")
        extra = {"upstream": member.config.name, "upstream_job_id": state.get("upstream_job_id"),
                 "upstream_model": done.raw.get("model"),
                 "upstream_output": {"width": made.source_width, "height": made.source_height,
                                     "fps": made.source_fps, "duration_s": made.source_duration_s,
                                     "has_audio": made.source_has_audio},
                 "copy_s": round(time.monotonic() - started, 3)}  # download + conform
        return EngineOutput(video_path=dest, seed=out.seed, width=out.width, height=out.height,
                            duration_s=float(out.duration_s), fps=out.fps, has_audio=out.generate_audio,
                            thumbnail_path=thumb if thumb.is_file() else None, extra=extra)

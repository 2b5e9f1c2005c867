"""The relay engine: forwards a task to ByteDance's official Seedance 2.0 API (BytePlus ModelArk or
Volcengine Ark), follows the upstream task, and copies the finished video into our storage.

Exactly one live upstream task per task: the upstream id is saved with `ctx.save_state` right after the
create call answers, before anything else, and an attempt that finds an id in `ctx.state` (a restarted or
re-claimed task) resumes polling it instead of submitting again. The only resubmission is of an upstream task
that was cancelled while still queued (it never ran and is not billed), e.g. by our own cancel while the
worker was handing the task back; it is bounded by `MAX_SUBMISSIONS`.

Cancellation: while the upstream task is queued, a cancel deletes it upstream (`DELETE`); once it runs, the
provider can no longer cancel it, so the engine saves `"cancellable": false` and the API answers
`can_cancel: false`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from refvid.config import Settings
from refvid.engines.base import BaseEngine, EngineContext, EngineInput, EngineOutput
from refvid.engines.output import SIZES
from refvid.engines.relay import CAPABILITIES
from refvid.engines.upstream.providers.ark_client import ArkClient
from refvid.engines.upstream.providers.ark_payload import ark_model_for, build_request, failure_for, progress_for
from refvid.engines.upstream.stopping import cancellable_sleep, stop_reason
from refvid.errors import Cancelled, TaskFailure
from refvid.media.info import MediaInfo, Reference

log = logging.getLogger(__name__)
MAX_SUBMISSIONS = 3
THUMBNAIL_MAX_SIDE = 640


def expected_run_s(duration_s: int) -> float:
    """Rough upstream generation time, for the progress estimate only (Seedance 2.0: minutes per clip)."""
    return 60.0 + 10.0 * (duration_s if duration_s > 0 else 10)


class RelayEngine(BaseEngine):
    """Seedance 2.0 through the Ark task API. One instance per engine process; one HTTP client per job."""

    capabilities = CAPABILITIES

    def __init__(self, settings: Settings, client_factory: Callable[[Callable[[float], None]], ArkClient]
                 | None = None):
        self.settings = settings
        self._client_factory = client_factory or self._default_client

    def _default_client(self, sleep: Callable[[float], None]) -> ArkClient:
        s = self.settings
        if not s.ark_api_key:
            raise TaskFailure("the relay engine needs REFVID_ARK_API_KEY", code="upstream_error")
        # Retry backoff starts at the poll interval (capped at 1 s): a deployment polling fast retries fast.
        return ArkClient(s.ark_api_key, s.ark_base_url, timeout_s=s.ark_timeout_s, max_retries=s.ark_max_retries,
                         backoff_s=min(1.0, s.ark_poll_interval_s), sleep=sleep)

    def choose_duration(self, references: list[Reference], max_s: int = 0, min_s: int = 0) -> int:
        """`duration: -1` passes through: Seedance picks the length itself (within the model's range)."""
        return -1

    def generate(self, job: EngineInput, ctx: EngineContext) -> EngineOutput:
        client = self._client_factory(cancellable_sleep(ctx))
        state = dict(ctx.state)
        try:
            # 1. Resume the upstream task of an earlier attempt, or submit one (and save its id at once).
            upstream_id = state.get("upstream_task_id")
            if not upstream_id or state.get("upstream_status") == "cancelled":
                upstream_id = self._submit(job, ctx, client, state)
            else:
                log.info("task %s: resuming upstream task %s", job.task_id, upstream_id)
            # 2. Follow it until it ends (progress 1–90).
            try:
                task = self._follow(job, ctx, client, state)
            except Cancelled:
                # A worker handing the task back (or losing its lease) must leave the upstream task alone:
                # the next attempt resumes polling it. Only a client's cancel deletes it.
                if stop_reason(ctx) != "shutdown":
                    self._cancel_upstream(ctx, client, state)
                raise
            # 3. Copy the video into our work dir; the worker stores it (progress 90–100).
            return self._finish(job, ctx, client, task)
        finally:
            client.close()

    # -- steps --------------------------------------------------------------------------------------
    def _submit(self, job: EngineInput, ctx: EngineContext, client: ArkClient, state: dict[str, Any]) -> str:
        if ctx.cancelled():
            raise Cancelled()
        submissions = int(state.get("submissions", 0))
        if submissions >= MAX_SUBMISSIONS:
            raise TaskFailure(f"the provider cancelled this task's upstream task {submissions} times",
                              code="upstream_error")
        body = build_request(job, ark_model_for(self.settings, job.model), self.settings.public_url)
        upstream_id = client.create_task(body)
        state.update(upstream_task_id=upstream_id, upstream_status="queued", upstream_model=body["model"],
                     submissions=submissions + 1, cancellable=True)
        ctx.save_state(state)
        log.info("task %s: submitted upstream task %s (%s)", job.task_id, upstream_id, body["model"])
        ctx.progress(1, "submitted to the provider")
        return upstream_id

    def _follow(self, job: EngineInput, ctx: EngineContext, client: ArkClient,
                state: dict[str, Any]) -> dict[str, Any]:
        interval = self.settings.ark_poll_interval_s
        running_since: float | None = None
        while True:
            task = client.get_task(str(state["upstream_task_id"]))
            status = str(task.get("status"))
            if status == "succeeded":
                return task
            if status in ("failed", "expired"):
                raise failure_for(task)
            if status == "cancelled":
                if ctx.cancelled():
                    raise Cancelled()
                log.warning("task %s: upstream task %s was cancelled upstream; submitting again",
                            job.task_id, state["upstream_task_id"])
                state["upstream_status"] = "cancelled"
                self._submit(job, ctx, client, state)
                interval, running_since = self.settings.ark_poll_interval_s, None
                continue
            if status == "running" and running_since is None:
                running_since = time.monotonic()
                # Saved on the first sighting in every attempt: a new lease starts out cancellable.
                state.update(upstream_status="running", cancellable=False)
                ctx.save_state(state)
            elapsed = time.monotonic() - running_since if running_since else 0.0
            ctx.progress(progress_for(status, elapsed, expected_run_s(job.output.duration_s)), status)
            client.sleep(interval)
            interval = min(self.settings.ark_poll_max_interval_s, interval * 1.5)

    def _cancel_upstream(self, ctx: EngineContext, client: ArkClient, state: dict[str, Any]) -> None:
        """Delete the upstream task if it may still be queued (the provider cannot cancel a running one)."""
        upstream_id = state.get("upstream_task_id")
        if not upstream_id or state.get("upstream_status") not in ("queued", None):
            return
        if client.delete_task(str(upstream_id)):
            state["upstream_status"] = "cancelled"
            ctx.save_state(state)
            log.info("cancelled upstream task %s", upstream_id)

    def _finish(self, job: EngineInput, ctx: EngineContext, client: ArkClient,
                task: dict[str, Any]) -> EngineOutput:
        content = task.get("content") if isinstance(task.get("content"), dict) else {}
        video_url = content.get("video_url") if isinstance(content, dict) else None
        if not isinstance(video_url, str) or not video_url:
            raise TaskFailure(f"the provider reported task {task.get('id')} succeeded but gave no video URL",
                              code="upstream_error")
        ctx.progress(90, "downloading the video")
        video_path = job.work_dir / "output.mp4"
        client.download(video_url, video_path)
        ctx.progress(97, "checking the video")
        info = probe_video(video_path)
        out = job.output
        ratio = str(task.get("ratio") or out.ratio)
        resolution = str(task.get("resolution") or out.resolution)
        width, height = SIZES.get(resolution, {}).get(ratio, (out.width, out.height))
        duration = _positive(task.get("duration")) or (info.duration_s if info else 0.0) or float(out.duration_s)
        extra = {"upstream_task_id": task.get("id"), "upstream_model": task.get("model"), "ratio": ratio,
                 "resolution": resolution, "usage": task.get("usage")}
        ctx.progress(100, "done")
        return EngineOutput(
            video_path=video_path,
            seed=_reported_seed(task.get("seed"), out.seed),
            width=info.width if info and info.width else width,
            height=info.height if info and info.height else height,
            duration_s=duration,
            fps=int(_positive(task.get("framespersecond")) or (round(info.fps) if info else 0) or out.fps),
            has_audio=info.has_audio if info else bool(task.get("generate_audio", out.generate_audio)),
            thumbnail_path=write_thumbnail(video_path, job.work_dir / "thumbnail.jpg"),
            extra=extra,
        )


def _positive(value: Any) -> float:
    """`value` if it is a positive number, else 0 (absent, null, -1 or not a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 0.0


def _reported_seed(value: Any, ours: int) -> int:
    """The seed the provider reports having used (0 included), else the one we sent."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else ours


def probe_video(path: Path) -> MediaInfo | None:
    """What the downloaded file really is, or None if it cannot be probed (the provider's word then holds)."""
    from refvid.media.probe import probe

    try:
        return probe(path, "video", "the provider's video")
    except Exception as exc:
        log.warning("could not probe the provider's video: %s", exc)
        return None


def write_thumbnail(video: Path, dest: Path) -> Path | None:
    """A JPEG of the first frame, or None if the video cannot be decoded."""
    import av
    from PIL import Image

    try:
        with av.open(str(video)) as container:
            frame = next(container.decode(video=0))
            image = Image.fromarray(frame.to_ndarray(format="rgb24"))
        image.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
        image.save(dest, "JPEG", quality=85)
        return dest
    except Exception as exc:
        log.warning("could not make a thumbnail of the provider's video: %s", exc)
        return None

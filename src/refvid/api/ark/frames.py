"""The last frame of a result (Ark's `return_last_frame`): a signed PNG URL, extracted on first download.

Ark clients chain videos by feeding one task's last frame into the next as its first frame, so the PNG must
be exactly the video's final decoded frame. The worker knows nothing of dialects, so instead of extracting it
at completion the frame is decoded from the stored MP4 when its URL is first fetched and then kept beside the
video (`results/{task}/last_frame.png`, removed with the task's other files). The URL is signed like the
video's (same secret, same expiry: the result lifetime after completion) and needs no Authorization header.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from refvid.api.errors import ApiError
from refvid.runtime import Runtime
from refvid.storage.signing import signed_query, verify
from refvid.tasks.model import Task, TaskStatus

FRAME_NAME = "last_frame.png"


def frame_path(task_id: str) -> str:
    """The URL path of a task's last frame (outside `/v1/results`, whose names the FoxAPI dialect fixes)."""
    return f"/api/v3/results/{task_id}/{FRAME_NAME}"


def frame_key(task_id: str) -> str:
    return f"results/{task_id}/{FRAME_NAME}"


def last_frame_url(runtime: Runtime, base: str, task: Task) -> str:
    """The signed URL of the task's last frame, valid as long as the video's URL."""
    expires_at = int((task.finished_at or 0) + runtime.settings.result_ttl_s)
    path = frame_path(task.id)
    return f"{base}{path}?{signed_query(runtime.signing_secret, path, expires_at)}"


def last_frame_file(runtime: Runtime, task_id: str, expires: str | None, sig: str | None) -> str:
    """The blob key of the task's last frame PNG, extracting it first if needed; ApiError 403/410/404 for a
    bad signature, an expired URL or a task without a video."""
    state = verify(runtime.signing_secret, frame_path(task_id), expires, sig)
    if state == "invalid":
        raise ApiError(403, "invalid or missing signature", "invalid_signature")
    if state == "expired":
        raise ApiError(410, "this result URL has expired (results live 24 h after completion)", "url_expired")
    task = runtime.store.get_task(task_id)
    video_key = (task.result or {}).get("video_key") if task and task.status == TaskStatus.COMPLETED else None
    if not video_key:
        raise ApiError(404, f"no result {FRAME_NAME} for task {task_id}", "result_not_found")
    key = frame_key(task_id)
    if not runtime.blobs.exists(key):
        with tempfile.TemporaryDirectory(prefix="refvid-frame-") as folder:
            video = runtime.blobs.local_path(video_key) or runtime.blobs.get_to(video_key, Path(folder) / "v.mp4")
            png = extract_last_frame(video, Path(folder) / FRAME_NAME)
            runtime.blobs.put_file(key, png, "image/png")
        # A delete may have run while the frame was decoded: its files were removed before ours was written.
        # Checked after writing, the task's absence means either this removes the file or the delete (whose
        # removal follows its row's) does; a frame outlives its task in neither order (GC visits only tasks
        # still in the database).
        if runtime.store.get_task(task_id) is None:
            runtime.blobs.delete_prefix(f"results/{task_id}/")
            raise ApiError(404, f"no result {FRAME_NAME} for task {task_id}", "result_not_found")
    return key


def extract_last_frame(video: Path, dest: Path) -> Path:
    """Decode `video` to its end and write its final frame to `dest` as an RGB PNG."""
    import av  # lazily: the API process imports no media decoder until a frame is asked for

    last = None
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            last = frame
    if last is None:
        raise ApiError(404, "the result video has no frames", "result_not_found")
    last.to_image().save(dest, format="PNG")  # type: ignore[no-untyped-call]
    return dest

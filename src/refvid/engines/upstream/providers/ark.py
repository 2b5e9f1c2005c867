"""ByteDance's Ark task API (BytePlus ModelArk / Volcengine Ark, Seedance 2.x) as a pool provider: the same
wire as the `relay` engine (docs/relay.md), whose payload mapping it reuses (`ark_payload.py`):

- create: `POST {url}/contents/generations/tasks` with the relay's body (content items with roles, prompt
  tokens renamed "Image 1", images and audio inlined as `data:` URLs, user URLs passed as sent: Ark is a public
  service outside our network); `model` is the pool entry's (the Ark model or endpoint id).
- read: `GET …/tasks/{id}`: queued | running | succeeded | failed | expired | cancelled, `error {code,
  message}`, `content.video_url` (a presigned URL on Ark's object store, not on the API's origin: fetched
  through the guarded client, public addresses only).
- cancel: `DELETE …/tasks/{id}` while queued; a running task cannot be cancelled (`can_cancel: false`).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, cast

from refvid.engines.base import EngineInput
from refvid.engines.upstream.providers.ark_payload import build_request, failure_for
from refvid.engines.upstream.providers.base import JobState, Sleep, merge_request
from refvid.engines.upstream.transport import UpstreamHttp, job_body
from refvid.errors import TaskFailure

log = logging.getLogger(__name__)
TASKS = "/contents/generations/tasks"
STATUSES: dict[str, Any] = {"queued": "queued", "running": "running", "succeeded": "completed",
                            "failed": "failed", "expired": "failed", "cancelled": "failed"}
CANCEL_TIMEOUT_S = 3.0


class Ark:
    name: ClassVar[str] = "ark"
    cancels_running: ClassVar[bool] = False
    reports_running: ClassVar[bool] = True
    results_on_own_origin: ClassVar[bool] = False

    def submit(self, http: UpstreamHttp, job: EngineInput, sleep: Sleep) -> str:
        if not http.config.model:
            raise TaskFailure(f"upstream {http.config.name} names no Ark model (set `model`)", code="upstream_error")
        body = merge_request(build_request(job, http.config.model, None), http)
        response = http.call("POST", http.config.url + TASKS, "create the task", sleep, create=True, json=body)
        task_id = (response.json() if response.is_success else {}).get("id")
        if not isinstance(task_id, str) or not task_id:
            raise TaskFailure(f"upstream {http.config.name} accepted the task but returned no id",
                              code="upstream_error")
        return task_id

    def poll(self, http: UpstreamHttp, job_id: str, sleep: Sleep) -> JobState:
        response = http.call("GET", f"{http.config.url}{TASKS}/{job_id}", "report the task", sleep)
        body = job_body(response)
        if body is None:
            raise TaskFailure(f"the provider's answer about task {job_id} is not a task", code="upstream_error")
        status = STATUSES.get(str(body.get("status")), "queued")
        if status == "failed":
            failure = failure_for(body)
            return JobState("failed", failure.message, failure.code == "upstream_rejected", raw=body)
        content = cast(dict[str, Any], body.get("content") or {})
        return JobState(status, content=str(content.get("video_url") or ""), raw=body)

    def cancel(self, http: UpstreamHttp, job_id: str) -> bool:
        try:
            return http.delete_once(f"{http.config.url}{TASKS}/{job_id}", CANCEL_TIMEOUT_S).is_success
        except Exception as exc:
            log.warning("cancelling Ark task %s failed: %s", job_id, exc)
            return False


ARK = Ark()

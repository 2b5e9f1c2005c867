"""Tasks as the store receives them."""

from __future__ import annotations

import time

from refvid.tasks.model import Task, TaskSpec, new_task_id

ENGINE = "compositor"


def make_task(owner: str = "key_a", *, engine: str = ENGINE, key: str | None = None, at: float | None = None,
              model: str = "seedance-2.0-reference-to-video", request_hash: str | None = None) -> Task:
    """A pending task with one image reference, owned by `owner`, for `engine`."""
    spec = TaskSpec(model=model, prompt="a cat @Image1", resolution="480p", image_urls=("http://x/a.png",))
    return Task(id=new_task_id(), owner=owner, spec=spec, engine=engine, idempotency_key=key,
                request_hash=request_hash, credits=4, created_at=at if at is not None else time.time())

"""Python client for refvid and FoxAPI's Seedance 2.0 video API (same wire, spec `api.md`).

    from refvid import Client
    with Client("http://127.0.0.1:8000", "rv-...") as client:
        task = client.create("@Image1 dances", images=["me.png"], resolution="480p", duration=4)
        task = client.wait(task, on_progress=lambda t: print(t.status, t.progress))
        client.download(task, "out.mp4")

`AsyncClient` is the implementation; `Client` runs it on a private event-loop thread, so it also works
from code that already runs an event loop. Results are the server's own wire models
(`refvid.api.schemas`); answers from FoxAPI, which omits some fields, are completed with neutral defaults.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import inspect
import mimetypes
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit

import httpx

from refvid.api.schemas import FileObject, ModelList, TaskDeleted, TaskList, TaskObject
from refvid.client.errors import (
    APIConnectionError,
    ClientError,
    FileTooLargeError,
    TaskCancelledError,
    TaskFailedError,
    WaitTimeoutError,
    error_from_response,
)
from refvid.client.limits import check_reference_sizes, check_upload_size, is_url, refused_upload
from refvid.client.wire import Reference, file_object, merge_reference_aliases, task_object
from refvid.contract import DEFAULT_MODEL
from refvid.version import __version__

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "AsyncClient", "Client", "poll_delay"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
ProgressCallback = Callable[[TaskObject], Any]
_RETRY_STATUS = frozenset({429, 502, 503, 504})


def poll_delay(polls: int, estimated_time: float | None, *, min_s: float = 0.25, max_s: float = 4.0) -> float:
    """Seconds before the next poll: exponential backoff (0.5 s × 1.5^polls, capped at `max_s`), shortened
    to half the server's `estimated_time` hint when that is sooner, never below `min_s`."""
    delay = min(max_s, 0.5 * 1.5 ** min(polls, 30))
    if estimated_time and estimated_time > 0:
        delay = min(delay, estimated_time / 2)
    return max(min_s, delay)


class AsyncClient:
    """Async client. `base_url` / `api_key` default to `REFVID_BASE_URL` / `REFVID_API_KEY`.

    `transport` lets tests plug in `httpx.ASGITransport(app=...)`. Idempotent requests (and submissions,
    which carry an `Idempotency-Key`) are retried `max_retries` times on connection errors and on
    429/502/503/504, honouring `Retry-After`.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 60.0,
                 max_retries: int = 2, transport: httpx.AsyncBaseTransport | None = None):
        base = (base_url or os.environ.get("REFVID_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.base_url = base.removesuffix("/v1")
        self.api_key = api_key if api_key is not None else os.environ.get("REFVID_API_KEY")
        self.max_retries = max_retries
        headers = {"User-Agent": f"refvid-python/{__version__}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, transport=transport,
                                       timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _request(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> Any:
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if last or not idempotent:
                    raise APIConnectionError(f"{method} {self.base_url}{path}: {exc!r}") from exc
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            if response.is_success:
                return response.json()
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            error = error_from_response(response.status_code, body, response.headers.get("retry-after"))
            if last or response.status_code not in _RETRY_STATUS:
                raise error
            await asyncio.sleep(min(30.0, error.retry_after if error.retry_after is not None else 2**attempt))
        raise AssertionError("unreachable")

    async def upload(self, source: Reference | bytes, *, filename: str | None = None) -> FileObject:
        """Upload a local file (or bytes) through `POST /v1/files/upload/stream`; its `url` can be used
        in any `*_urls` field for 72 h."""
        name = filename or ("upload.bin" if isinstance(source, bytes) else Path(source).name)
        if isinstance(source, bytes):
            check_upload_size(name, len(source))
            data = source
        else:
            check_upload_size(os.fspath(source), (await asyncio.to_thread(Path(source).stat)).st_size)
            data = await asyncio.to_thread(Path(source).read_bytes)
        files = {"file": (name, data, mimetypes.guess_type(name)[0] or "application/octet-stream")}
        try:
            payload = await self._request("POST", "/v1/files/upload/stream", files=files, idempotent=False)
        except FileTooLargeError as exc:  # a server with a lower limit than the contract's
            raise refused_upload(exc, name) from exc
        return file_object(payload)

    async def _resolve(self, ref: Reference) -> str:
        if is_url(ref):
            return os.fspath(ref)
        if not await asyncio.to_thread(Path(ref).is_file):
            raise FileNotFoundError(f"reference {os.fspath(ref)!r} is neither a URL nor an existing file")
        return (await self.upload(ref)).url

    async def create(self, prompt: str | None = None, *, model: str = DEFAULT_MODEL,
                     images: Sequence[Reference] | None = None, videos: Sequence[Reference] | None = None,
                     audios: Sequence[Reference] | None = None, resolution: str | None = None,
                     ratio: str | None = None, duration: int | None = None,
                     generate_audio: bool | None = None, seed: int | None = None,
                     callback_url: str | None = None, idempotency_key: str | None = None,
                     extra: dict[str, Any] | None = None, image_urls: Sequence[Reference] | None = None,
                     video_urls: Sequence[Reference] | None = None,
                     audio_urls: Sequence[Reference] | None = None) -> TaskObject:
        """Submit a task (`POST /v1/videos/generations`). References are URLs or local paths; local
        paths are uploaded first. `image_urls=`/`video_urls=`/`audio_urls=` (the wire's names) are
        aliases of `images=`/`videos=`/`audios=`. Options left as None take the server's defaults; `extra`
        fields are sent as they are (e.g. later waves' `image_url`)."""
        kinds = merge_reference_aliases(images=images, image_urls=image_urls, videos=videos,
                                        video_urls=video_urls, audios=audios, audio_urls=audio_urls)
        await asyncio.to_thread(check_reference_sizes, kinds)  # all of them, before the first upload
        urls = await asyncio.gather(*(asyncio.gather(*(self._resolve(r) for r in refs)) for refs in kinds))
        body: dict[str, Any] = {"model": model, "prompt": prompt, "resolution": resolution, "ratio": ratio,
                                "duration": duration, "generate_audio": generate_audio, "seed": seed,
                                "callback_url": callback_url, **(extra or {})}
        body = {key: value for key, value in body.items() if value is not None}
        for field, values in zip(("image_urls", "video_urls", "audio_urls"), urls, strict=True):
            if values:
                body[field] = values
        headers = {"Idempotency-Key": idempotency_key or f"refvid-py-{uuid.uuid4().hex}"}
        return task_object(await self._request("POST", "/v1/videos/generations", json=body, headers=headers))

    async def get(self, task_id: str, *, sync_upstream: bool = False) -> TaskObject:
        """The task's current state (`GET /v1/tasks/{id}`)."""
        params = {"sync_upstream": "true"} if sync_upstream else None
        return task_object(await self._request("GET", f"/v1/tasks/{task_id}", params=params))

    async def wait(self, task: str | TaskObject, *, on_progress: ProgressCallback | None = None,
                   timeout: float | None = None,  # noqa: ASYNC109 - same signature as Client.wait
                   poll_interval: float | None = None,
                   max_interval: float = 4.0) -> TaskObject:
        """Poll until the task ends; return it when completed. `on_progress(task)` (sync or async) is
        called with every state observed. Polls follow `poll_delay` (server hint + backoff up to
        `max_interval`) unless `poll_interval` fixes the period. Raises `TaskFailedError`,
        `TaskCancelledError`, or `WaitTimeoutError` after `timeout` seconds (the task keeps running)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        current = task if isinstance(task, TaskObject) else await self.get(task, sync_upstream=True)
        polls = 0
        while True:
            if on_progress is not None and inspect.isawaitable(outcome := on_progress(current)):
                await outcome
            if current.status == "completed":
                return current
            if current.status == "failed":
                raise TaskFailedError(current)
            if current.status == "cancelled":
                raise TaskCancelledError(current)
            delay = poll_interval or poll_delay(polls, current.task_info.estimated_time, max_s=max_interval)
            if deadline is not None:
                if loop.time() >= deadline:
                    raise WaitTimeoutError(current, timeout or 0.0)
                delay = min(delay, max(0.0, deadline - loop.time()))
            await asyncio.sleep(delay)
            polls += 1
            current = await self.get(current.id, sync_upstream=True)

    async def cancel(self, task_id: str) -> TaskObject:
        """Cancel (`POST /v1/tasks/{id}/cancel`). A terminal task raises `ConflictError`."""
        return task_object(await self._request("POST", f"/v1/tasks/{task_id}/cancel", idempotent=False))

    async def delete(self, task_id: str) -> TaskDeleted:
        """Delete a terminal task and its files (`DELETE /v1/tasks/{id}`)."""
        return TaskDeleted.model_validate(await self._request("DELETE", f"/v1/tasks/{task_id}",
                                                              idempotent=False))

    async def models(self) -> ModelList:
        """The models this server serves (`GET /v1/models`)."""
        return ModelList.model_validate(await self._request("GET", "/v1/models"))

    async def download(self, task: str | TaskObject, path: Reference | None = None, *,
                       index: int = 0) -> Path:
        """Save `results[index]` of a completed task to `path` (default `./{task id}.mp4`, `.mov` for a MOV
        result; a folder gets that name inside). Result URLs are signed: no Authorization header is sent with them."""
        if isinstance(task, str) or not task.results:
            task = await self.get(task if isinstance(task, str) else task.id)
        if task.status == "failed":
            raise TaskFailedError(task)
        if task.status != "completed" or not task.results:
            raise ClientError(f"task {task.id} is {task.status}, it has no result yet",
                              type="invalid_request_error", code="task_not_completed")
        url = task.results[index].url
        name = f"{task.id}{PurePosixPath(urlsplit(url).path).suffix or '.mp4'}"  # .mov for output_format mov
        target = Path(path) if path is not None else Path(name)
        if target.is_dir():
            target = target / name
        request = self._http.build_request("GET", url if "://" in url else self.base_url + url)
        request.headers.pop("Authorization", None)
        partial = target.with_name(target.name + ".part")
        try:
            response = await self._http.send(request, stream=True, follow_redirects=True)
        except httpx.TransportError as exc:
            raise APIConnectionError(f"GET {url}: {exc!r}") from exc
        try:
            if not response.is_success:
                await response.aread()
                raise error_from_response(response.status_code, response.text)
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes(1 << 20):
                    out.write(chunk)
        finally:
            await response.aclose()
        partial.replace(target)
        return target

    async def list(self, *, status: str | None = None, model: str | None = None, limit: int = 20,
                   after: str | None = None) -> TaskList:
        """One page of this key's tasks, newest first (`GET /v1/tasks`); page on with `after=last_id`."""
        params = {k: v for k, v in {"status": status, "model": model, "limit": limit, "after": after}.items()
                  if v is not None}
        payload = await self._request("GET", "/v1/tasks", params=params)
        tasks: builtins.list[TaskObject] = [task_object(item) for item in payload.get("data") or []]
        return TaskList(data=tasks, has_more=bool(payload.get("has_more")), last_id=payload.get("last_id"))


P = ParamSpec("P")
T = TypeVar("T")


def _sync(method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]) -> Callable[
        Concatenate[Client, P], T]:
    """The blocking twin of an `AsyncClient` method (same signature and docstring)."""
    def blocking(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self._async, *args, **kwargs))
    functools.update_wrapper(blocking, method)
    return blocking


class Client:
    """Blocking client with the same methods as `AsyncClient`, which it runs on a private event-loop
    thread (so `on_progress` callbacks run on that thread). Use as a context manager or call `close()`."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 60.0,
                 max_retries: int = 2, transport: httpx.AsyncBaseTransport | None = None):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="refvid-client", daemon=True)
        self._thread.start()
        self._async = AsyncClient(base_url, api_key, timeout=timeout, max_retries=max_retries,
                                  transport=transport)
        self.base_url, self.api_key = self._async.base_url, self._async.api_key

    def _run(self, coro: Awaitable[T]) -> T:
        async def runner() -> T:
            return await coro
        future = asyncio.run_coroutine_threadsafe(runner(), self._loop)
        try:
            return future.result()
        except BaseException:  # KeyboardInterrupt included: stop the request on the loop thread too.
            future.cancel()
            raise

    def close(self) -> None:
        """Close the connection pool and stop the loop thread."""
        if self._loop.is_closed():
            return
        self._run(self._async.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    upload = _sync(AsyncClient.upload)
    create = _sync(AsyncClient.create)
    get = _sync(AsyncClient.get)
    wait = _sync(AsyncClient.wait)
    cancel = _sync(AsyncClient.cancel)
    delete = _sync(AsyncClient.delete)
    models = _sync(AsyncClient.models)
    download = _sync(AsyncClient.download)
    list = _sync(AsyncClient.list)

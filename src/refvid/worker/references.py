"""Getting a task's references onto local disk: our own uploads resolve internally (no HTTP round trip,
no SSRF exposure), everything else goes through the SSRF-safe fetcher, then probing and the spec limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from refvid import catalog
from refvid.config import Settings
from refvid.errors import ReferenceFailure
from refvid.media.fetch import Fetcher
from refvid.media.info import Reference
from refvid.media.refcache import RefCache
from refvid.media.references import prepare_references
from refvid.storage.base import BlobStore
from refvid.tasks.model import Task
from refvid.tasks.store import SqlStore
from refvid.tasks.store.files import upload_id_of


class ReferenceLoader:
    def __init__(self, settings: Settings, store: SqlStore, blobs: BlobStore):
        self.settings, self.store, self.blobs = settings, store, blobs
        self.cache = RefCache.for_settings(settings)

    def prepare(self, task: Task, folder: Path, should_stop: Callable[[], bool]) -> list[Reference]:
        folder.mkdir(parents=True, exist_ok=True)

        def resolve_internal(url: str) -> Path | None:
            return self._resolve_upload(task.owner, url, folder)

        fetcher = Fetcher(self.settings, resolve_internal=resolve_internal)
        spec = task.spec
        # Image-to-video frames are fetched and checked like images; their errors name `image_url` and
        # `end_image_url`, and the engine reads them (by mode) as the first and the last frame.
        frames = dict(zip(("image_url", "end_image_url"), spec.frame_urls, strict=False))
        images = list(spec.image_urls) or list(frames.values())
        return prepare_references(images, list(spec.video_urls), list(spec.audio_urls), folder, fetcher,
                                  cache=self.cache, check_cancelled=should_stop,
                                  image_labels=tuple(frames) if not spec.image_urls else (),
                                  model=catalog.active().get(spec.model))

    def _resolve_upload(self, owner: str, url: str, folder: Path) -> Path | None:
        file_id = upload_id_of(url)
        if file_id is None:
            return None
        row = self.store.get_file(file_id)
        if row is None or row["owner"] != owner:
            # Looks like one of our upload URLs but is not this key's upload: fetch it like any URL
            # (the SSRF rules then apply as usual).
            return None
        if float(row["expires_at"]) < time.time():
            raise ReferenceFailure(f"upload {file_id} expired", code="reference_fetch_failed")
        local = self.blobs.local_path(row["blob_key"])
        if local is not None:
            return local
        return self.blobs.get_to(row["blob_key"], folder / f"upload-{file_id}")

"""The disk blob store's side of garbage collection: `delete_prefix` says what it removed (for /metrics), and
`list_folders` pages through `results/` in the same key order as the S3 store (a name sorts as name + "/")."""

from __future__ import annotations

from pathlib import Path

from refvid.storage.base import Removed
from refvid.storage.local import LocalBlobStore


def test_delete_prefix_counts_files_and_bytes(tmp_path: Path) -> None:
    blobs, source = LocalBlobStore(tmp_path / "blobs"), tmp_path / "f"
    source.write_bytes(b"12345")
    for key in ("results/t1/1/video.mp4", "results/t1/last_frame.png", "results/t10/1/video.mp4", "uploads/f/a.png"):
        blobs.put_file(key, source)
    assert blobs.delete_prefix("results/t1/") == Removed(files=2, size_bytes=10)
    assert not blobs.exists("results/t1/last_frame.png") and blobs.exists("results/t10/1/video.mp4")
    assert blobs.delete_prefix("uploads/f/a.png") == Removed(1, 5)
    assert blobs.delete_prefix("results/gone/") == Removed(0, 0)


def test_list_folders_pages_in_key_order(tmp_path: Path) -> None:
    blobs, source = LocalBlobStore(tmp_path / "blobs"), tmp_path / "f"
    source.write_bytes(b"x")
    for name in ("task-b", "task-a", "task-a-2", "task-c"):
        blobs.put_file(f"results/{name}/1/video.mp4", source)
    assert blobs.list_folders("results/", None, 10) == ["task-a-2", "task-a", "task-b", "task-c"]
    assert blobs.list_folders("results/", None, 2) == ["task-a-2", "task-a"]
    assert blobs.list_folders("results/", "task-a", 2) == ["task-b", "task-c"]
    assert blobs.list_folders("results/", "task-c", 2) == []
    assert blobs.list_folders("nothing/", None, 2) == []

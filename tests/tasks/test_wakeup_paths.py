"""A data dir too deep for a Unix socket path (`sun_path`, ~100 bytes) still wakes the other processes."""

from __future__ import annotations

from pathlib import Path

from refvid.tasks.wakeup import MAX_SOCKET_PATH_BYTES, LocalWaker, socket_folder


def test_wakers_in_a_deep_data_dir_meet_in_a_short_folder_and_wake_each_other(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6) / "wake"
    assert len(str(deep)) > MAX_SOCKET_PATH_BYTES
    first, second = LocalWaker(deep), LocalWaker(deep)
    try:
        assert first.folder == second.folder == socket_folder(deep) != deep
        assert len(str(next(first.folder.glob("*.sock")))) <= MAX_SOCKET_PATH_BYTES
        seen = second.generation()
        first.notify()
        assert second.wait_after(seen, timeout_s=10)
    finally:
        first.close()
        second.close()


def test_a_short_data_dir_keeps_its_sockets_in_its_own_wake_folder(tmp_path: Path) -> None:
    short = Path("/tmp") / tmp_path.name[:8] / "wake"
    assert socket_folder(short) == short

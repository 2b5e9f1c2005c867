"""refvid.Client against a real `refvid serve` subprocess over loopback.

`RunningServer` / `serve_refvid` are shared with the CLI subprocess and browser tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from refvid import Client
from refvid.client_errors import ConflictError, InvalidRequestError
from tests import media_factory as mf
from tests.video_checks import assert_contract

pytestmark = pytest.mark.slow
KEY = "client-test-key"


class RunningServer:
    """`python -m refvid.cli serve` on a free loopback port, with one API key."""

    def __init__(self, data_dir: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url, self.key, self.data_dir = f"http://127.0.0.1:{self.port}", KEY, data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
        env.update({"REFVID_API_KEYS": KEY, "REFVID_FETCH_ALLOW_HOSTS": "127.0.0.1", "REFVID_LOG_LEVEL": "warning"})
        self.log = (data_dir.parent / "serve.log").open("w")
        cmd = [sys.executable, "-m", "refvid.cli", "serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"refvid serve did not become healthy:\n{self.output()}")

    def client_env(self) -> dict[str, str]:
        """The environment a client process needs to reach this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFVID_")}
        return {**env, "REFVID_BASE_URL": self.url, "REFVID_API_KEY": self.key}

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.data_dir.parent / "serve.log").read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def serve_refvid(folder: Path) -> Iterator[RunningServer]:
    """Generator body for fixtures: start, yield, stop."""
    server = RunningServer(folder / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_refvid(tmp_path_factory.mktemp("client-live"))


def test_client_against_running_server(live: RunningServer, tmp_path: Path) -> None:
    image = mf.make_image(tmp_path / "hero.jpg", 480, 640, seed=9)
    video = mf.make_video(tmp_path / "motion.mp4", 320, 240, seconds=2.0)
    with Client(live.url, live.key) as client:
        assert {m.id for m in client.models().data} >= {"seedance-2.0-reference-to-video"}
        with pytest.raises(InvalidRequestError) as bad:
            client.create("@Image2 jumps", images=[image], resolution="480p", duration=4)
        assert (bad.value.code, bad.value.param) == ("invalid_reference_mention", "prompt")
        task = client.create("@Image1 moves like @Video1", images=[image], videos=[video], resolution="480p",
                             duration=4, generate_audio=False, seed=42)
        seen: list[int] = []
        done = client.wait(task, on_progress=lambda t: seen.append(t.progress), timeout=120)
        assert done.results and done.results[0].seed == 42 and seen == sorted(seen)
        assert done.results[0].url.startswith(live.url + "/v1/results/")
        path = client.download(done, tmp_path / "out.mp4")
        assert_contract(path, 560, 752, 4, has_audio=False)  # adaptive: 480×640 image → 3:4
        with pytest.raises(ConflictError):
            client.cancel(done.id)
        assert client.delete(done.id).deleted

"""refvid.Client against a real `refvid serve` subprocess over loopback (started by
`tests.support.servers.serve_refvid`, as in the CLI subprocess and browser tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from refvid import Client
from refvid.client.errors import ConflictError, InvalidRequestError
from tests.support import media_factory as mf
from tests.support.servers import RunningServer, serve_refvid
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow


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
        for url in (done.results[0].url, f"{live.url}/healthz"):  # what CDNs and download managers ask first
            head = httpx.head(url)
            assert head.status_code == 200 and head.content == b"", url
            size = path.stat().st_size if "/results/" in url else len(b'{"status":"ok"}')
            assert int(head.headers["content-length"]) == size
        with pytest.raises(ConflictError):
            client.cancel(done.id)
        assert client.delete(done.id).deleted

"""`refvid generate` / `refvid tasks` as real processes against a real `refvid serve`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import media_factory as mf
from tests.support.servers import RunningServer, serve_refvid
from tests.support.video_checks import assert_contract

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "refvid.cli"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_refvid(tmp_path_factory.mktemp("cli-live"))


def run_cli(live: RunningServer, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=live.client_env(), capture_output=True, text=True, timeout=timeout)


def test_generate_from_local_files_writes_a_valid_mp4(live: RunningServer, tmp_path: Path) -> None:
    image = mf.make_image(tmp_path / "hero.png", 640, 480, seed=2)
    video = mf.make_video(tmp_path / "move.mp4", 320, 240, seconds=2.0)
    audio = mf.make_wav(tmp_path / "beat.wav", seconds=3.0)
    out = tmp_path / "out.mp4"
    started = time.monotonic()
    done = run_cli(live, "generate", "--prompt", "@Image1 moves like @Video1 to @Audio1", "--image", str(image),
                   "--video", str(video), "--audio", str(audio), "--resolution", "480p", "--ratio", "16:9",
                   "--duration", "4", "-o", str(out))
    assert done.returncode == 0, done.stdout + done.stderr + live.output()
    assert f"saved {out}" in done.stderr and "864×496 4s" in done.stderr
    assert_contract(out, 864, 496, 4, has_audio=True)
    assert time.monotonic() - started < 60
    listed = run_cli(live, "tasks", "list", "--json", "--status", "completed")
    assert listed.returncode == 0, listed.stderr
    (task,) = json.loads(listed.stdout)["data"]
    shown = run_cli(live, "tasks", "show", task["id"])
    assert "/v1/results/" in shown.stdout and "864×496" in shown.stdout
    deleted = run_cli(live, "tasks", "delete", task["id"])
    assert deleted.stdout.strip() == f"{task['id']} deleted"


def _sigint_as_at_a_terminal() -> None:
    """A suite started in the background by a non-interactive shell inherits SIGINT ignored, and so would the CLI
    (Python keeps an inherited SIG_IGN): give the child the disposition a user's Ctrl-C meets."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_without_a_terminal_cancels_the_task(live: RunningServer, tmp_path: Path) -> None:
    image = mf.make_image(tmp_path / "hero.png", 640, 480, seed=3)
    proc = subprocess.Popen([*CLI, "generate", "-p", "@Image1 spins", "-i", str(image), "--resolution", "720p",
                             "--duration", "15", "--json"], env=live.client_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_as_at_a_terminal)
    assert proc.stderr is not None
    line = ""
    deadline = time.monotonic() + 30
    while "submitted task" not in line and time.monotonic() < deadline:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, proc.communicate()
    task_id = line.split("submitted task ")[1].split()[0]
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert stdout and json.loads(stdout)["id"] == task_id and "cancel requested" in stderr, stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = json.loads(run_cli(live, "tasks", "show", task_id, "--json").stdout)["status"]
        if status == "cancelled":
            break
        time.sleep(0.3)
    assert status == "cancelled"

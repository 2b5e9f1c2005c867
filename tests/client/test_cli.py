"""`refvid generate` and `refvid tasks …` through typer's runner, on the app via httpx.ASGITransport."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from refvid import Client
from refvid.cli import app
from refvid.client import cli as cli_client
from refvid.config import Settings
from refvid.runtime import Runtime
from refvid.tasks.model import TaskStatus
from refvid.worker.supervisor import Worker
from tests.support import media_factory as mf
from tests.support.apps import api_app
from tests.support.keys import API_KEY
from tests.support.video_checks import assert_contract

ENV = {"REFVID_BASE_URL": "http://refvid.test", "REFVID_API_KEY": API_KEY}


@pytest.fixture
def runner(settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    transport = httpx.ASGITransport(app=api_app(settings, runtime))
    seen: list[tuple[str | None, str | None]] = []

    def make_client(base_url: str | None, api_key: str | None) -> Client:
        seen.append((base_url, api_key))
        return Client(base_url, api_key, transport=transport)

    monkeypatch.setattr(cli_client, "make_client", make_client)
    monkeypatch.setattr(cli_client, "interactive", lambda: False)
    return CliRunner(env=ENV)


@pytest.fixture
def refs(tmp_path: Path) -> dict[str, Path]:
    return {"image": mf.make_image(tmp_path / "hero.png", 640, 480, seed=1),
            "audio": mf.make_wav(tmp_path / "beat.wav", seconds=3.0)}


def submit(runner: CliRunner, refs: dict[str, Path], *extra: str) -> dict[str, Any]:
    result = runner.invoke(app, ["generate", "-p", "@Image1 dances to @Audio1", "-i", str(refs["image"]),
                                 "-a", str(refs["audio"]), "--resolution", "480p", "--duration", "4",
                                 "--detach", "--json", *extra])
    assert result.exit_code == 0, result.output + result.stderr
    task: dict[str, Any] = json.loads(result.stdout)
    return task


def test_generate_saves_a_valid_mp4(runner: CliRunner, worker: Worker, refs: dict[str, Path],
                                    tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["generate", "--prompt", "@Image1 dances to @Audio1", "--image", str(refs["image"]),
                                 "--audio", str(refs["audio"]), "--resolution", "480p", "--ratio", "1:1",
                                 "--duration", "4", "--seed", "11", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    task = json.loads(result.stdout)
    assert task["status"] == "completed" and task["output_path"] == str(out)
    assert task["results"][0]["seed"] == 11
    assert "submitted task" in result.stderr
    assert_contract(out, 640, 640, 4, has_audio=True)


def test_tasks_list_show_cancel_delete(runner: CliRunner, refs: dict[str, Path]) -> None:
    task = submit(runner, refs, "--no-audio", "--model", "seedance-2.0-fast-reference-to-video")
    assert task["status"] == "pending" and task["model"] == "seedance-2.0-fast-reference-to-video"
    listed = runner.invoke(app, ["tasks", "list", "--json"])
    assert [t["id"] for t in json.loads(listed.stdout)["data"]] == [task["id"]]
    table = runner.invoke(app, ["tasks", "list", "--status", "pending"])
    assert table.exit_code == 0 and task["id"] in table.stdout and "pending" in table.stdout
    shown = runner.invoke(app, ["tasks", "show", task["id"]])
    assert shown.exit_code == 0 and task["id"] in shown.stdout and "can_cancel=True" in shown.stdout
    busy = runner.invoke(app, ["tasks", "delete", task["id"]])
    assert busy.exit_code == 1 and "invalid_request_error" in busy.stderr
    cancelled = runner.invoke(app, ["tasks", "cancel", task["id"]])
    assert cancelled.exit_code == 0 and cancelled.stdout.strip() == f"{task['id']} cancelled"
    again = runner.invoke(app, ["tasks", "cancel", task["id"], "--json"])
    assert again.exit_code == 1 and "task_not_cancellable" in again.stderr and again.stdout == ""
    deleted = runner.invoke(app, ["tasks", "delete", task["id"], "--json"])
    assert json.loads(deleted.stdout) == {"id": task["id"], "object": "video.generation.task.deleted",
                                          "deleted": True}
    gone = runner.invoke(app, ["tasks", "show", task["id"]])
    assert gone.exit_code == 1 and "not_found" in gone.stderr


def test_input_errors_name_the_field(runner: CliRunner, refs: dict[str, Path]) -> None:
    bad = runner.invoke(app, ["generate", "-p", "@Image1", "-i", str(refs["image"]), "--duration", "99"])
    assert bad.exit_code == 1 and "invalid_duration" in bad.stderr and "param: duration" in bad.stderr
    missing = runner.invoke(app, ["generate", "-p", "@Image1", "-i", "nowhere/none.png"])
    assert missing.exit_code == 2 and "nowhere/none.png" in missing.stderr


def test_key_errors_say_how_to_set_and_make_a_key(runner: CliRunner) -> None:
    for args, env, says in ((["--api-key", "bogus"], {}, "does not know this key"),
                            ([], {"REFVID_API_KEY": ""}, "No API key was sent")):
        denied = runner.invoke(app, ["tasks", "list", *args], env=env)
        text = " ".join(denied.stderr.split())
        assert denied.exit_code == 1 and "authentication_error" in text, text
        assert says in text and "REFVID_API_KEY" in text and "--api-key" in text and "`refvid keys create`" in text


ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG_ERROR = ("image_urls[0]: width 120 px is below 300 px; resize the image or pick another, the model cannot "
              "frame a subject that small")


def test_tasks_list_stays_readable_on_80_columns_and_in_a_pipe(runner: CliRunner, refs: dict[str, Path],
                                                                runtime: Runtime) -> None:
    failed = submit(runner, refs, "--no-audio")
    claim = runtime.store.claim_next("w", ["compositor"], lease_s=30)
    assert claim is not None and claim.task.id == failed["id"]
    runtime.store.finish(failed["id"], claim.token, TaskStatus.FAILED,
                         error={"code": "reference_invalid", "message": LONG_ERROR})
    pending = submit(runner, refs, "--model", "seedance-2.0-fast-reference-to-video")

    piped = runner.invoke(app, ["tasks", "list"])  # CliRunner's stdout is no terminal: one task per line
    rows = [line.split("\t") for line in piped.stdout.splitlines()]
    assert [row[:4] for row in rows] == [[pending["id"], "pending", "0%", "seedance-2.0-fast-reference-to-video"],
                                         [failed["id"], "failed", "0%", "seedance-2.0-reference-to-video"]]
    assert rows[1][5] == f"reference_invalid: {LONG_ERROR}" and all(len(row) == 6 for row in rows)

    narrow = runner.invoke(app, ["tasks", "list"], env={"COLUMNS": "80", "TTY_COMPATIBLE": "1"})
    lines = ANSI.sub("", narrow.stdout).splitlines()
    assert narrow.exit_code == 0 and lines and max(map(len, lines)) <= 80, lines
    assert "…" not in narrow.stdout and any(line.startswith(f"{failed['id']}  failed 0%  ") for line in lines)
    assert f"seedance-2.0-reference-to-video reference_invalid: {LONG_ERROR}" in " ".join(" ".join(lines).split())

    wide = runner.invoke(app, ["tasks", "list"], env={"COLUMNS": "200", "TTY_COMPATIBLE": "1"})
    assert "┃ model" in ANSI.sub("", wide.stdout) and "…" not in wide.stdout and pending["id"] in wide.stdout


def interrupt_waits(monkeypatch: pytest.MonkeyPatch, times: int) -> list[str]:
    """Make Client.wait raise KeyboardInterrupt `times` times (as Ctrl-C would), then wait for real."""
    calls: list[str] = []
    real_wait = Client.wait

    def wait(self: Client, task: Any, **kwargs: Any) -> Any:
        calls.append("wait")
        if len(calls) <= times:
            raise KeyboardInterrupt
        return real_wait(self, task, **kwargs)

    monkeypatch.setattr(Client, "wait", wait)
    return calls


def test_ctrl_c_asks_on_a_terminal(runner: CliRunner, refs: dict[str, Path],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_client, "interactive", lambda: True)
    calls = interrupt_waits(monkeypatch, times=2)
    result = runner.invoke(app, ["generate", "-p", "@Image1", "-i", str(refs["image"]), "--resolution", "480p",
                                 "--duration", "4"], input="n\ny\n")
    assert result.exit_code == 130, result.output + result.stderr
    assert calls == ["wait", "wait"] and result.stderr.count("Cancel task task-unified-") == 2
    assert "? [y/N]" in result.stderr
    task_id = result.stderr.split("submitted task ")[1].split()[0]
    assert f"cancel requested: task {task_id} is cancelled" in result.stderr
    shown = runner.invoke(app, ["tasks", "show", task_id, "--json"])
    assert json.loads(shown.stdout)["status"] == "cancelled"


def test_ctrl_c_at_the_prompt_leaves_the_task_running(runner: CliRunner, refs: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_client, "interactive", lambda: True)
    interrupt_waits(monkeypatch, times=1)
    result = runner.invoke(app, ["generate", "-p", "@Image1", "-i", str(refs["image"])], input="")
    assert result.exit_code == 130 and "left running" in result.stderr
    task_id = result.stderr.split("submitted task ")[1].split()[0]
    assert json.loads(runner.invoke(app, ["tasks", "show", task_id, "--json"]).stdout)["status"] == "pending"


def test_ctrl_c_without_a_terminal_cancels_at_once(runner: CliRunner, refs: dict[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    interrupt_waits(monkeypatch, times=1)
    result = runner.invoke(app, ["generate", "-p", "@Image1", "-i", str(refs["image"]), "--json"])
    assert result.exit_code == 130 and "Cancel task" not in result.stderr
    assert json.loads(result.stdout)["status"] == "cancelled"


def test_a_text_to_video_placeholder_says_so(runner: CliRunner, worker: Worker, tmp_path: Path) -> None:
    out = tmp_path / "card.mp4"
    made = runner.invoke(app, ["generate", "-p", "a lighthouse at dusk", "--model", "seedance-2.0-fast-text-to-video",
                               "--resolution", "480p", "--duration", "4", "--no-audio", "-o", str(out)])
    assert made.exit_code == 0, made.output + made.stderr
    assert "PLACEHOLDER, made by compositor: a placeholder title card" in made.stderr
    task_id = made.stderr.split("submitted task ")[1].split()[0]
    shown = runner.invoke(app, ["tasks", "show", task_id])
    assert "PLACEHOLDER, made by compositor" in shown.stdout

"""A newcomer's first hour against a real `refvid serve`: a restarted server says how to get a key, and a
reference on the newcomer's own machine fails with the setting that allows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import media_factory as mf
from tests.support.servers import Server, env_for, wait_terminal

pytestmark = pytest.mark.slow


def no_keys_env(**extra: str) -> dict[str, str]:
    """The acceptance environment without REFVID_API_KEYS (keys live in the database, as on `./run serve`)."""
    env = env_for(**extra)
    del env["REFVID_API_KEYS"]
    return env


def test_restarted_server_says_how_to_create_a_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = no_keys_env(REFVID_WORKERS="0")
    cli = [sys.executable, "-m", "refvid.cli"]
    subprocess.run([*cli, "migrate", "--data-dir", str(data)], env=env, check=True, capture_output=True)

    first = Server(data, env).start()  # the data dir exists, its keys table is empty
    first_output = first.stop()
    assert "Created an API key" in first_output
    assert f"keys create --data-dir {data.resolve()}" in first_output

    again = Server(data, env).start()  # a restart: the first key was shown once and is gone from view
    try:
        created = subprocess.run([*cli, "keys", "create", "--data-dir", str(data)], env=env, check=True,
                                 capture_output=True, text=True)
        key = created.stdout.strip()
        listed = httpx.get(f"{again.url}/v1/tasks", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200, listed.text  # the printed command gives a key the server accepts
    finally:
        output = again.stop()
    assert "Created an API key" not in output
    assert "API keys: 1 stored in the database" in output
    assert f"refvid keys create --data-dir {data.resolve()}" in output


def test_keys_from_the_environment_are_named(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", env_for(REFVID_WORKERS="0")).start()
    output = server.stop()
    assert "API keys: the 1 in REFVID_API_KEYS" in output
    assert "Created an API key" not in output


def test_a_loopback_reference_fails_naming_the_allow_list(tmp_path: Path,
                                                           media_server: tuple[str, Path]) -> None:
    base, folder = media_server
    mf.make_image(folder / "me.png", 640, 480, seed=2)
    env = env_for(REFVID_FETCH_ALLOW_HOSTS="")  # the default: only public addresses are fetched
    server = Server(tmp_path / "data", env).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {env['REFVID_API_KEYS']}"},
                          timeout=30) as client:
            body = {"model": "seedance-2.0-fast-reference-to-video", "prompt": "@Image1 waves",
                    "resolution": "480p", "duration": 4, "image_urls": [f"{base}/me.png"]}
            created = client.post("/v1/videos/generations", json=body)
            assert created.status_code == 200, created.text
            task = wait_terminal(client, created.json()["id"])
    finally:
        output = server.stop()
    assert task["status"] == "failed", task
    assert task["error"]["code"] == "reference_forbidden_host"
    message = task["error"]["message"]
    assert message.startswith("image_urls[0]: host 127.0.0.1 resolves to 127.0.0.1, a loopback address")
    assert "REFVID_FETCH_ALLOW_HOSTS=127.0.0.1" in message
    assert "Traceback" not in output

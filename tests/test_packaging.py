"""`pip install refvid` is the client alone: installed from this checkout into a fresh virtualenv (no extras),
`refvid tasks list` works against a real `refvid serve` and the server's packages are absent; `refvid serve`
there says what to install, with no traceback. (`./run` installs `refvid[server]`, which every other test uses.)

Slow-ish: pip resolves httpx, pydantic, typer and rich (from its cache or index) and builds the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from refvid.server_extra import INSTALL_SERVER
from tests.support.servers import RunningServer, serve_refvid

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_refvid(tmp_path_factory.mktemp("packaging-live"))


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding `pip install <checkout>` and nothing else of ours (pip runs from this
    interpreter with `--python`, which saves bootstrapping a pip into the new environment)."""
    folder = tmp_path_factory.mktemp("client-only")
    checkout, venv = folder / "checkout", folder / "venv"
    # What the build reads, copied: setuptools builds in the source tree and would leave build/ and an
    # egg-info beside the code the other tests import.
    shutil.copytree(ROOT / "src", checkout / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, checkout / name)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                                "--quiet", str(checkout)], capture_output=True, text=True, timeout=240)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def run_in(venv: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REFVID_", "PYTHON"))}  # not our checkout
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True, text=True, timeout=60,
                          env={**clean, **(env or {})}, cwd=venv)


def test_the_client_alone_lists_tasks_without_the_server_packages(client_venv: Path, live: RunningServer) -> None:
    created = httpx.post(f"{live.url}/v1/videos/generations", headers={"Authorization": f"Bearer {live.key}"},
                         json={"model": "seedance-2.0-reference-to-video", "prompt": "@Image1 waves",
                               "image_urls": ["http://127.0.0.1:9/a.png"]})
    assert created.status_code == 200, created.text
    where = run_in(client_venv, "python", "-c", "import refvid; print(refvid.__file__)")
    assert where.returncode == 0 and str(client_venv) in where.stdout, where.stdout + where.stderr
    listed = run_in(client_venv, "refvid", "tasks", "list", "--json",
                    env={"REFVID_BASE_URL": live.url, "REFVID_API_KEY": live.key})
    assert listed.returncode == 0, listed.stderr
    assert created.json()["id"] in [task["id"] for task in json.loads(listed.stdout)["data"]]
    for module in ("av", "numpy", "cv2", "fastapi", "uvicorn", "pydantic_settings"):
        absent = run_in(client_venv, "python", "-c", f"import {module}")
        assert absent.returncode != 0 and "ModuleNotFoundError" in absent.stderr, module


def test_serve_without_the_server_says_what_to_install(client_venv: Path) -> None:
    for command in (["serve"], ["worker"], ["migrate"], ["keys", "create"]):
        refused = run_in(client_venv, "refvid", *command)
        assert refused.returncode == 1, (command, refused.stdout, refused.stderr)
        assert INSTALL_SERVER in refused.stderr and "missing: fastapi" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr + refused.stdout
    helped = run_in(client_venv, "refvid", "--help")
    assert helped.returncode == 0 and "generate" in helped.stdout and "refvid[server]" in helped.stdout

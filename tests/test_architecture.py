"""Rules of the codebase that a refactor could silently break."""

from __future__ import annotations

import subprocess
import sys
import typing

from refvid.api.schemas import TaskObject
from refvid.tasks.model import TRANSITIONS, TaskStatus


def test_importing_the_api_does_not_import_torch_or_engines() -> None:
    code = ("import sys, refvid.api.app, refvid.cli; "
            "bad = [m for m in ('torch', 'diffusers', 'cv2', 'refvid.engines.compositor.engine', "
            "'refvid.engines.diffusion.engine') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_every_task_status_maps_to_a_wire_status() -> None:
    wire = set(typing.get_args(TaskObject.model_fields["status"].annotation))
    assert {status.value for status in TaskStatus} == wire


def test_terminal_statuses_have_no_way_out() -> None:
    for status, targets in TRANSITIONS.items():
        assert (not targets) == status.is_terminal()

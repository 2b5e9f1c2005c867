"""The arrows of docs/architecture.md: import-linter's contracts (pyproject.toml) hold, and the wire's
mention grammar is defined in exactly one module."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "refvid"


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=SRC.parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_exactly_one_module_defines_the_mention_grammar() -> None:
    # A regex matching "@" followed by the Chinese mention words is a mention grammar; only the contract holds one.
    definers = sorted(str(path.relative_to(SRC)) for path in SRC.rglob("*.py")
                      if re.search(r"re\.compile\([^)]*@[^)]*(图像|图片|视频|音频)", path.read_text(encoding="utf-8"),
                                   re.DOTALL))
    assert definers == ["contract.py"]

"""Whether this install has the server: `pip install refvid` is the client (the Python client and the
`generate` / `tasks` commands, on httpx, pydantic, typer and rich); `pip install 'refvid[server]'` adds what
`serve`, `worker`, `migrate` and `keys` need. Those commands check first and say what to install, rather than
fail with an ImportError traceback from deep inside the server."""

from __future__ import annotations

import importlib.util

INSTALL_SERVER = "pip install 'refvid[server]'"
# What the server imports that the client does not: the import name → the distribution that provides it
# (pyproject.toml's `server` extra).
SERVER_MODULES = {"fastapi": "fastapi", "uvicorn": "uvicorn", "pydantic_settings": "pydantic-settings",
                  "python_multipart": "python-multipart", "av": "av", "numpy": "numpy",
                  "cv2": "opencv-python-headless", "PIL": "Pillow", "standardwebhooks": "standardwebhooks",
                  "stamina": "stamina", "prometheus_client": "prometheus-client"}


def missing_server_packages() -> list[str]:
    """The distributions of the `server` extra that cannot be imported here (none on a server install)."""
    return [dist for module, dist in SERVER_MODULES.items() if importlib.util.find_spec(module) is None]


def server_missing_message(command: str) -> str | None:
    """What to tell a user who runs `refvid <command>` without the server installed, or None when it is."""
    missing = missing_server_packages()
    if not missing:
        return None
    return (f"`refvid {command}` runs the server, which this install does not include (missing: "
            f"{', '.join(missing)}).\nInstall it with:  {INSTALL_SERVER}\n(`refvid generate` and "
            "`refvid tasks` need only the client, which is installed.)")

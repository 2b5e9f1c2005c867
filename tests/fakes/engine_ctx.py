"""A stand-in for the worker's `EngineContext`, recording what an engine reports."""

from __future__ import annotations

import threading
from typing import Any


class FakeContext:
    """Records progress and saved states; `cancel()` (or `cancel_when`) sets the cancel flag."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.state: dict[str, Any] = dict(state or {})
        self.saved: list[dict[str, Any]] = []
        self.progress_values: list[float] = []
        self.cancel_event = threading.Event()
        self.cancel_when: Any = None  # optional callable(ctx) -> bool, checked on every cancelled()
        self.reason = "cancel"  # what stop_reason() answers once cancelled: "cancel" or "shutdown"

    def progress(self, pct: float, message: str | None = None) -> None:
        self.progress_values.append(pct)

    def cancelled(self) -> bool:
        if self.cancel_when is not None and self.cancel_when(self):
            self.cancel_event.set()
        return self.cancel_event.is_set()

    def stop_reason(self) -> str | None:
        return self.reason if self.cancel_event.is_set() else None

    def cancel(self) -> None:
        self.cancel_event.set()

    def save_state(self, state: dict[str, Any]) -> None:
        self.state = dict(state)
        self.saved.append(dict(state))

"""The one stand-in for the worker's `EngineContext` (progress, cancellation, engine state) in the tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class FakeContext:
    """Records what an engine reports: every progress value and every saved state.

    The cancel flag is set by `cancel()`, once `cancel_at` percent or more was reported, or once
    `cancel_when(ctx)` is true (checked on every `cancelled()` poll); once set it stays set. `cancelled_at` is
    the last progress reported when it was set, `polls` counts the engine's `cancelled()` calls, and
    `stop_reason()` answers `reason` ("cancel" or "shutdown") once cancelled.
    """

    def __init__(self, state: dict[str, Any] | None = None, *, cancel_at: float | None = None,
                 cancel_when: Callable[[FakeContext], bool] | None = None) -> None:
        self.state: dict[str, Any] = dict(state or {})
        self.saved: list[dict[str, Any]] = []
        self.progress_values: list[float] = []
        self.cancel_event = threading.Event()
        self.cancel_at = cancel_at
        self.cancel_when = cancel_when
        self.cancelled_at: float | None = None
        self.polls = 0
        self.reason = "cancel"

    @property
    def last_progress(self) -> float:
        return self.progress_values[-1] if self.progress_values else 0.0

    def progress(self, pct: float, message: str | None = None) -> None:
        self.progress_values.append(pct)

    def cancelled(self) -> bool:
        self.polls += 1
        if not self.cancel_event.is_set():
            reached = self.cancel_at is not None and max(self.progress_values, default=0.0) >= self.cancel_at
            if reached or (self.cancel_when is not None and self.cancel_when(self)):
                self.cancel()
        return self.cancel_event.is_set()

    def stop_reason(self) -> str | None:
        return self.reason if self.cancel_event.is_set() else None

    def cancel(self) -> None:
        if not self.cancel_event.is_set():
            self.cancelled_at = self.last_progress
            self.cancel_event.set()

    def save_state(self, state: dict[str, Any]) -> None:
        self.state = dict(state)
        self.saved.append(dict(state))

"""The messages between a worker slot (the parent, `host.EngineHost`) and its engine process (the child,
`child.child_main`), one frozen dataclass each, sent pickled over a `multiprocessing` pipe.

Parent → child (`ToChild`):
  `RunJob(job)`        run one task; the child answers with exactly one of `Done`, `JobCancelled`, `JobFailed`
  `StopChild()`        close the engine and exit (also: the pipe closing)

Child → parent (`ToParent`):
  `StartFailed(msg)`   the engine could not be built; the child exits (the task fails without retries)
  `Progress(pct)`      0–100, only increasing, during a job
  `StateSaved(state)`  the engine saved resumable state (e.g. the relay's provider task id)
  `Done(output)`       the job's `EngineOutput`
  `JobCancelled()`     the engine stopped because the parent set the shared cancel event
  `JobFailed(code, message)` the job failed with a task error code

Out of band: a shared cancel event the engine polls, and a shared integer saying why it is set
(`STOP_REASONS`), written by the parent before the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refvid.engines.base import EngineOutput
from refvid.media.info import Reference
from refvid.tasks.model import TaskSpec

#: the shared stop-reason value → what `EngineContext.stop_reason()` answers
STOP_REASONS = {1: "cancel", 2: "shutdown"}


@dataclass(frozen=True)
class JobRequest:
    """Everything the engine process needs for one task (references already fetched into `work_dir`)."""

    task_id: str
    spec: TaskSpec
    seed: int
    references: list[Reference]
    work_dir: Path
    state: dict[str, Any]


# -- parent → child --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunJob:
    job: JobRequest


@dataclass(frozen=True)
class StopChild:
    pass


# -- child → parent --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StartFailed:
    message: str


@dataclass(frozen=True)
class Progress:
    pct: int


@dataclass(frozen=True)
class StateSaved:
    state: dict[str, Any]


@dataclass(frozen=True)
class Done:
    output: EngineOutput


@dataclass(frozen=True)
class JobCancelled:
    pass


@dataclass(frozen=True)
class JobFailed:
    code: str
    message: str


ToChild = RunJob | StopChild
ToParent = StartFailed | Progress | StateSaved | Done | JobCancelled | JobFailed

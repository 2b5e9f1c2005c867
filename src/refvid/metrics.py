"""Process-wide observability: the Prometheus metric objects, and the log context (`request_id`, `task_id`).

Two kinds of metrics:

- events counted where they happen (claims, runs, reference failures, webhook deliveries, HTTP requests):
  ordinary counters and histograms in prometheus_client's default registry, so the process metrics
  (`process_resident_memory_bytes`, …) come along. An API process shows its own and those of its
  in-process workers; a separate `refvid worker` serves its own on `REFVID_METRICS_PORT`.
- the state of the queue (`refvid_tasks`, `refvid_queue_depth`): read from the database at scrape time by
  `StoreCollector`, because the tasks table is the truth every node shares.

Log records carry `request_id` and `task_id` attributes (`-` when unset) once `install_log_context()` ran:
the API binds the request id per request, the worker binds the task id while it runs a task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CLAIM_LATENCY = Histogram(
    "refvid_claim_latency_seconds", "Time from submission to a worker's first claim of the task.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
GENERATION_SECONDS = Histogram(
    "refvid_generation_seconds", "Wall time of one successful run (references, engine, storage).",
    ["engine", "resolution"], buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
FETCH_FAILURES = Counter(
    "refvid_reference_failures", "Tasks failed because of a reference, by error code (spec §6).", ["code"],
)
WEBHOOK_DELIVERIES = Counter(
    "refvid_webhook_deliveries", "Webhook delivery attempts by outcome.", ["outcome"],
)
HTTP_REQUESTS = Counter(
    "refvid_http_requests", "API requests by method, route template and status.", ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "refvid_http_request_seconds", "API request duration by method and route template.", ["method", "route"],
)
#: delivery outcomes, listed so that every series exists (at 0) from the start
WEBHOOK_OUTCOMES = ("delivered", "retry", "gave_up", "disabled", "forbidden")
for _outcome in WEBHOOK_OUTCOMES:
    WEBHOOK_DELIVERIES.labels(_outcome)


def task_claimed(created_at: float, attempts: int) -> None:
    """A worker claimed a task: its first claim measures how long it waited in the queue."""
    if attempts == 1:
        CLAIM_LATENCY.observe(max(0.0, time.time() - created_at))


def task_generated(engine: str, resolution: str, seconds: float) -> None:
    GENERATION_SECONDS.labels(engine, resolution).observe(seconds)


def task_failed(code: str) -> None:
    """A task failed with `code`; reference problems (`reference_*`) are counted by code."""
    if code.startswith("reference_"):
        FETCH_FAILURES.labels(code).inc()


def webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()


class StoreCollector(Collector):
    """`refvid_tasks{status,model}` and `refvid_queue_depth{model}`, counted in the database per scrape."""

    def __init__(self, count_by_status: Callable[[], list[dict[str, Any]]]):
        self._count = count_by_status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tasks = GaugeMetricFamily("refvid_tasks", "Tasks by status and model.", labels=["status", "model"])
        queue = GaugeMetricFamily("refvid_queue_depth", "Pending tasks by model.", labels=["model"])
        pending: dict[str, int] = {}
        for row in self._count():
            model, status, count = str(row["model"]), str(row["status"]), int(row["n"])
            tasks.add_metric([status, model], count)
            pending[model] = pending.get(model, 0) + (count if status == "pending" else 0)
        for model, count in sorted(pending.items()):
            queue.add_metric([model], count)
        yield tasks
        yield queue


# -- log context -----------------------------------------------------------------------------------
REQUEST_ID: ContextVar[str | None] = ContextVar("refvid_request_id", default=None)
TASK_ID: ContextVar[str | None] = ContextVar("refvid_task_id", default=None)
_installed = False


def install_log_context() -> None:
    """Give every log record `request_id` and `task_id` attributes from the current context (idempotent).
    A record factory, not a handler filter, so that every handler (and pytest's caplog) sees them."""
    global _installed
    if _installed:
        return
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        record.request_id = REQUEST_ID.get() or "-"
        record.task_id = TASK_ID.get() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


@contextmanager
def task_context(task_id: str) -> Iterator[None]:
    """Bind `task_id` to the log records of this thread while the block runs."""
    token = TASK_ID.set(task_id)
    try:
        yield
    finally:
        TASK_ID.reset(token)


# -- upstreams (engines/upstream): one series per configured upstream, by name ---------------------------------
UPSTREAM_JOB_SECONDS = Histogram(
    "refvid_upstream_job_seconds", "Time from submitting a job to an upstream to seeing it completed.",
    ["upstream"], buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
UPSTREAM_REQUEST_SECONDS = Histogram(
    "refvid_upstream_request_seconds", "Latency of one HTTP request to an upstream.", ["upstream", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UPSTREAM_FAILURES = Counter(
    "refvid_upstream_failures", "Failures talking to an upstream, by kind (unreachable, http_5xx, job_failed, "
    "job_lost).", ["upstream", "kind"],
)
UPSTREAM_IN_FLIGHT = Gauge("refvid_upstream_in_flight", "Jobs this process has in flight on an upstream.",
                           ["upstream"])
UPSTREAM_HEALTHY = Gauge("refvid_upstream_healthy", "1 while an upstream is used, 0 while it is skipped.",
                         ["upstream"])

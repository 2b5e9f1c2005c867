"""Webhooks (spec §8), delivery only: per-key signing secrets (`secrets`), the delivery threads that POST
Standard Webhooks-signed events to each task's `callback_url` (`dispatcher`), and the cap and circuit breaker
per key and receiver that keep one key's receiver from holding up the others (`receivers`).

The events themselves are written by the task store (`refvid.tasks.store.outbox`) in the same transaction as
each status change; this package reads due messages and secrets through the store's public API.
"""

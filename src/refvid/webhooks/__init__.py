"""Webhooks (spec §8): a durable outbox written with each status change, per-key signing secrets, and the
delivery threads that POST Standard Webhooks-signed events to each task's `callback_url`.

`outbox` is imported by the task store, so this package's `__init__` stays free of heavy imports.
"""

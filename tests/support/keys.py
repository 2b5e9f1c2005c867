"""The API keys of the in-process test app (the `settings` fixture accepts both)."""

from __future__ import annotations

API_KEY = "test-key"
OTHER_KEY = "other-key"

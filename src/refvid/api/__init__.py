"""The HTTP API (FastAPI). Thin routes over tasks.service; one JSON error shape."""

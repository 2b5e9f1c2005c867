"""Contract-faithful fakes of the external services refvid talks to (run on 127.0.0.1 in a thread)."""

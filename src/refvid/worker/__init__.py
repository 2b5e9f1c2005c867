"""Workers: claim tasks, run engines in child processes, record one outcome per task."""

"""The `refvid` command: serve, worker, migrate, keys, dev. Every flag mirrors a REFVID_* setting."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from refvid.config import Settings


def _settings_epilog() -> str:
    lines = ["Settings (environment; the matching flags override them):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"REFVID_{name.upper()}: {field.description}")
    return "\n\n".join(lines)


app = typer.Typer(help="refvid: self-hosted, FoxAPI-compatible Seedance 2.0 reference-to-video server.",
                  epilog=_settings_epilog(), no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None)
keys_app = typer.Typer(help="Manage API keys stored in the database.", no_args_is_help=True)
dev_app = typer.Typer(help="Developer tools.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(dev_app, name="dev")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder (env REFVID_DATA_DIR).")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="sqlite:///… or postgresql://… "
                                                 "(env REFVID_DATABASE_URL).")]
StorageUrl = Annotated[str | None, typer.Option("--storage-url", help="file:///… or s3://bucket/prefix "
                                                "(env REFVID_STORAGE_URL).")]


def load_settings(**overrides: Any) -> Settings:
    """Environment first, flags on top (only the flags actually given)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)


def _logging(settings: Settings) -> None:
    from refvid.metrics import install_log_context

    install_log_context()  # every record carries request_id and task_id ("-" outside a request / task)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s [req=%(request_id)s task=%(task_id)s] %(message)s")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (env REFVID_HOST, default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (env REFVID_PORT, default 8000).")] = None,
    data_dir: DataDir = None,
    workers: Annotated[int | None, typer.Option(help="In-process workers; 0 = API only "
                                                "(env REFVID_WORKERS, default 1).")] = None,
    database_url: DatabaseUrl = None,
    storage_url: StorageUrl = None,
    public_url: Annotated[str | None, typer.Option(help="Base URL for result links (env REFVID_PUBLIC_URL).")] = None,
) -> None:
    """Run the API (and, unless --workers 0, in-process workers)."""
    import uvicorn

    from refvid.api.app import create_app
    from refvid.runtime import Runtime

    settings = load_settings(host=host, port=port, data_dir=data_dir, workers=workers, database_url=database_url,
                             storage_url=storage_url, public_url=public_url)
    _logging(settings)
    runtime = Runtime.open(settings)
    new_key = runtime.ensure_api_key()
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"refvid {settings.resolved_database_url.split(':')[0]} store, data in {settings.data_dir.resolve()}")
    typer.echo(f"refvid listening on {url}  (playground: {url}/, API docs: {url}/docs)")
    if new_key:
        typer.echo(f"Created an API key (shown once, only its hash is stored):\n\n    {new_key}\n")
    app_ = create_app(settings, runtime=runtime)
    uvicorn.run(app_, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=10)


@app.command()
def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    storage_url: StorageUrl = None,
    concurrency: Annotated[int, typer.Option(help="Tasks run at once by this process.")] = 1,
    engines: Annotated[str | None, typer.Option(help="Comma-separated engines to run "
                                                "[env: REFVID_ENGINES; default: every routed engine].")] = None,
) -> None:
    """Run a worker against the same database and storage as the API. SIGTERM: finish or hand back."""
    from refvid.engines.registry import worker_engines
    from refvid.runtime import Runtime
    from refvid.worker.maintenance import Maintenance
    from refvid.worker.supervisor import Worker, WorkerDeps

    settings = load_settings(data_dir=data_dir, database_url=database_url, storage_url=storage_url,
                             engines=engines)
    _logging(settings)
    runtime = Runtime.open(settings)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    maintenance = Maintenance(runtime)
    maintenance.start()
    if settings.metrics_port:  # this process's claim/run/failure metrics, for Prometheus
        import prometheus_client

        prometheus_client.start_http_server(settings.metrics_port, addr=settings.host)
    deps = WorkerDeps(settings, runtime.store, runtime.blobs, runtime.waker)
    running = Worker(deps, worker_engines(settings), concurrency=concurrency)
    running.start()
    typer.echo(f"refvid worker {running.id} running engines {', '.join(running.engines)}")
    done.wait()
    typer.echo("stopping: finishing or handing back running tasks")
    running.stop(grace_s=10.0)
    maintenance.stop()
    runtime.close()


@app.command()
def migrate(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply database migrations (also done on every start)."""
    from refvid.tasks.store import open_store

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.resolved_database_url)
    typer.echo(f"schema at version {store.migrate()}")


@keys_app.command("create")
def keys_create(label: Annotated[str | None, typer.Option(help="A note to recognise the key.")] = None,
                data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create an API key (printed once; only its hash is stored)."""
    from refvid.runtime import Runtime

    runtime = Runtime.open(load_settings(data_dir=data_dir, database_url=database_url))
    typer.echo(runtime.create_api_key(label))


@dev_app.command("tiny-weights")
def tiny_weights(folder: Path, model: Annotated[str, typer.Option(help="Pipeline family.")] = "wan-vace") -> None:
    """Write a tiny randomly initialised diffusion pipeline (tests, demos; no network)."""
    from refvid.engines.tiny_weights import write_tiny_weights  # type: ignore[import-not-found,unused-ignore]

    typer.echo(str(write_tiny_weights(folder, model)))


__import__("refvid.cli_client").cli_client.register(app)  # client commands: generate, tasks


def main() -> None:
    app()


if __name__ == "__main__":
    main()

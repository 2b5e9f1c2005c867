"""The `refvid` command: serve, worker, migrate, keys, dev. Every flag mirrors a REFVID_* setting."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from refvid.server_extra import server_missing_message

if TYPE_CHECKING:  # the heavy parts (and the settings, on pydantic-settings) are imported by the commands
    from fastapi import FastAPI

    from refvid.api.app import Background
    from refvid.config import Settings
    from refvid.runtime import Runtime
    from refvid.tasks.maintenance import Maintenance
    from refvid.worker.supervisor import Worker


def _settings_epilog() -> str:
    if server_missing_message("serve"):  # a client-only install: the settings are the server's
        return "The server's settings (REFVID_*) are listed here once it is installed: pip install 'refvid[server]'"
    from refvid.config import Settings

    lines = ["Settings (environment; the matching flags override them):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"REFVID_{name.upper()}: {field.description}")
    return "\n\n".join(lines)


def _needs_server(command: str) -> None:
    """Exit 1 with what to install when the server's packages are missing (`pip install refvid` alone)."""
    message = server_missing_message(command)
    if message:
        typer.echo(message, err=True)
        raise typer.Exit(1)


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
UpstreamsFile = Annotated[Path | None, typer.Option("--upstreams", help="Pool file of upstream task APIs, TOML "
                                                  "(env REFVID_UPSTREAMS; docs/upstreams.md).")]

ModelsFile = Annotated[Path | None, typer.Option("--models", help="Operator model catalog, TOML [[model]] tables "
                                               "(env REFVID_MODELS; docs/models.md).")]


def load_settings(**overrides: Any) -> Settings:
    """Environment first, flags on top (only the flags actually given)."""
    from refvid.config import Settings

    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)


def install_catalog(settings: Settings) -> None:
    """Read the operator's models file once, at start: a bad one stops the process with a message naming the
    file, the table and the key (exit 2, no traceback). Spawned processes find it in REFVID_MODELS."""
    from refvid import catalog

    try:
        models = catalog.load(settings.models)
    except catalog.ModelsFileError as exc:
        typer.echo(f"refvid: {exc}", err=True)
        raise typer.Exit(2) from None
    catalog.install(models)
    if settings.models is not None:
        os.environ[catalog.MODELS_ENV] = str(settings.models)


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
    api_workers: Annotated[int | None, typer.Option(help="API processes sharing the port (env REFVID_API_WORKERS, "
                                                    "default 1).")] = None,
    upstreams: UpstreamsFile = None,
    header_timeout_s: Annotated[float | None, typer.Option(help="Seconds a client has to send a request's headers "
                                                           "(env REFVID_HEADER_TIMEOUT_S, default 10).")] = None,
    body_idle_timeout_s: Annotated[float | None, typer.Option(help="Seconds a request body may pause (env "
                                                              "REFVID_BODY_IDLE_TIMEOUT_S, default 20).")] = None,
    write_timeout_s: Annotated[float | None, typer.Option(help="Seconds an answer may wait on a client that stopped "
                                                          "reading (env REFVID_WRITE_TIMEOUT_S, default 30).")] = None,
    max_header_bytes: Annotated[int | None, typer.Option(help="Largest request line + headers, bytes (env "
                                                         "REFVID_MAX_HEADER_BYTES, default 65536).")] = None,
    max_header_count: Annotated[int | None, typer.Option(help="Most header fields in a request (env "
                                                         "REFVID_MAX_HEADER_COUNT, default 100).")] = None,
    models: ModelsFile = None,
) -> None:
    """Run the API (and, unless --workers 0, in-process workers)."""
    _needs_server("serve")
    import uvicorn

    from refvid.api.edge import edge_options
    from refvid.runtime import Runtime

    flags = {"host": host, "port": port, "data_dir": data_dir, "workers": workers, "database_url": database_url,
             "storage_url": storage_url, "public_url": public_url, "api_workers": api_workers, "upstreams": upstreams,
             "header_timeout_s": header_timeout_s, "body_idle_timeout_s": body_idle_timeout_s,
             "write_timeout_s": write_timeout_s, "max_header_bytes": max_header_bytes,
             "max_header_count": max_header_count, "models": models}
    settings = load_settings(**flags)
    install_catalog(settings)
    _logging(settings)
    runtime = Runtime.open(settings)
    new_key = runtime.ensure_api_key()
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"refvid {settings.resolved_database_url.split(':')[0]} store, data in {settings.data_dir.resolve()}")
    typer.echo(f"refvid listening on {url}  (playground: {url}/, API docs: {url}/docs)")
    if new_key:
        typer.echo(f"Created an API key (shown once, only its hash is stored):\n\n    {new_key}\n")
    typer.echo(_key_notice(settings, runtime, new_key))
    server_options: dict[str, Any] = {"host": settings.host, "port": settings.port,
                                      "log_level": settings.log_level.lower(), "access_log": settings.access_log,
                                      "timeout_graceful_shutdown": 10, "loop": "asyncio", **edge_options(settings)}
    # The standard library's event loop, not uvloop: under load uvloop accepted one new connection per loop
    # iteration, so a client opening 64 connections at once saw its last ones wait ~1 s for their first
    # answer (p99 0.3-0.9 s where asyncio's loop gives 26 ms, at the same or higher throughput; bench/RESULTS.md).
    if settings.api_workers <= 1:
        uvicorn.run(compose_server(settings, runtime, embedded_workers=settings.workers), **server_options)
        return
    # N API processes on one port (uvicorn's supervisor spawns them; each builds its app from the environment,
    # so the flags given here travel as REFVID_* variables). Maintenance, webhook delivery and the embedded
    # workers run once, in this process, exactly as with one API process.
    os.environ.update({f"REFVID_{name.upper()}": str(value) for name, value in flags.items() if value is not None})
    background = _background(runtime, settings.workers)
    for service in background:
        service.start()
    try:
        uvicorn.run("refvid.cli:api_process_app", factory=True, workers=settings.api_workers, **server_options)
    finally:
        for service in reversed(background):
            service.stop()


def api_process_app() -> FastAPI:
    """One of `--api-workers` API processes: the API only, on the same store and storage."""
    from refvid.api.edge import configure
    from refvid.runtime import Runtime

    settings = load_settings()
    _logging(settings)
    configure(settings)  # this process's edge limits: the flags given to `serve` travel as REFVID_* variables
    return compose_server(settings, Runtime.open(settings), embedded_workers=0, background=False)


def _keys_create_command(settings: Settings) -> str:
    """The `keys create` line to copy: the program as it was started (`./run serve` runs `.venv/bin/refvid`,
    which is not on PATH) and the same database."""
    program = sys.argv[0] if Path(sys.argv[0]).name == "refvid" else "refvid"
    if settings.database_url:
        return f"{program} keys create   (with the same REFVID_DATABASE_URL)"
    return f"{program} keys create --data-dir {settings.data_dir.resolve()}"


def _key_notice(settings: Settings, runtime: Runtime, new_key: str | None) -> str:
    """What `serve` says about API keys on every start. A key is shown only once, when it is created, so a
    restarted server says how to make another rather than starting quietly with keys nobody has at hand."""
    if settings.api_keys:
        return (f"API keys: the {len(settings.api_keys)} in REFVID_API_KEYS (while it is set, keys stored in "
                "the database are not accepted)")
    create = _keys_create_command(settings)
    if new_key:
        return f"More keys: {create}"
    stored = len(runtime.store.api_key_hashes())
    return (f"API keys: {stored} stored in the database; each was shown once, when it was created. "
            f"No key at hand? Create one:\n\n    {create}\n")


def compose_server(settings: Settings, runtime: Runtime, embedded_workers: int,
                   background: bool = True) -> FastAPI:
    """The composition root of `refvid serve`: the API app with, beside it (unless `background` is false),
    maintenance (reaper, GC), the webhook deliveries and `embedded_workers` in-process workers (0 = API only)."""
    from refvid.api.app import create_app
    from refvid.engines.registry import model_offers
    from refvid.engines.upstream.config import load_upstreams
    from refvid.engines.upstream.health import UpstreamStatus
    from refvid.engines.upstream.providers.ark_sync import left_queue

    services = _background(runtime, embedded_workers) if background else []
    status = UpstreamStatus(load_upstreams(settings.upstreams),
                            functools.partial(runtime.store.processing_states, "upstream"))
    return create_app(settings, runtime, model_offers(settings), upstream=functools.partial(left_queue, settings),
                      background=services, model_status=status)


def _background(runtime: Runtime, embedded_workers: int) -> list[Background]:
    """What runs once per server beside its API processes: maintenance, webhook delivery, embedded workers."""
    from refvid.api.routes.webhooks import webhook_renderer
    from refvid.tasks.service import TaskService
    from refvid.webhooks.dispatcher import WebhookDispatcher

    service = TaskService(runtime.settings, runtime.store, runtime.blobs, runtime.waker)
    dispatcher = WebhookDispatcher(runtime.settings, runtime.store, webhook_renderer(runtime, service))
    services: list[Background] = [_maintenance(runtime), dispatcher]
    if embedded_workers > 0:
        services.append(_worker(runtime, embedded_workers))
    return services


def _maintenance(runtime: Runtime) -> Maintenance:
    from refvid.media.refcache import RefCache
    from refvid.tasks.maintenance import Maintenance
    from refvid.tasks.scratch import ScratchSweeper

    scratch = ScratchSweeper(runtime.settings.data_dir, runtime.store)
    return Maintenance(runtime.settings, runtime.store, runtime.blobs, runtime.waker,
                       collectors=[RefCache.for_settings(runtime.settings).prune, scratch.sweep])


def _worker(runtime: Runtime, concurrency: int) -> Worker:
    from refvid.engines.registry import worker_engines
    from refvid.worker.supervisor import Worker, WorkerDeps

    deps = WorkerDeps(runtime.settings, runtime.store, runtime.blobs, runtime.waker)
    return Worker(deps, worker_engines(runtime.settings), concurrency=concurrency)


@app.command()
def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    storage_url: StorageUrl = None,
    concurrency: Annotated[int, typer.Option(help="Tasks run at once by this process.")] = 1,
    engines: Annotated[str | None, typer.Option(help="Comma-separated engines to run "
                                                "[env: REFVID_ENGINES; default: every routed engine].")] = None,
    upstreams: UpstreamsFile = None,
    models: ModelsFile = None,
) -> None:
    """Run a worker against the same database and storage as the API. SIGTERM: finish or hand back."""
    _needs_server("worker")
    from refvid.runtime import Runtime

    settings = load_settings(data_dir=data_dir, database_url=database_url, storage_url=storage_url,
                             engines=engines, upstreams=upstreams, models=models)
    install_catalog(settings)
    _logging(settings)
    runtime = Runtime.open(settings)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    maintenance = _maintenance(runtime)
    maintenance.start()
    if settings.metrics_port:  # this process's claim/run/failure metrics, for Prometheus
        import prometheus_client

        prometheus_client.start_http_server(settings.metrics_port, addr=settings.host)
    running = _worker(runtime, concurrency)
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
    _needs_server("migrate")
    from refvid.tasks.store import open_store

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.resolved_database_url)
    typer.echo(f"schema at version {store.migrate()}")


@keys_app.command("create")
def keys_create(label: Annotated[str | None, typer.Option(help="A note to recognise the key.")] = None,
                data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create an API key (printed once; only its hash is stored)."""
    _needs_server("keys create")
    from refvid.runtime import Runtime

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    runtime = Runtime.open(settings)
    typer.echo(runtime.create_api_key(label))
    if settings.api_keys:  # owner_of accepts only those then: say so rather than hand out a dead key
        typer.echo("note: REFVID_API_KEYS is set here; a server with it set accepts only those keys, not this one",
                   err=True)


@dev_app.command("tiny-weights")
def tiny_weights(folder: Path, model: Annotated[
        str, typer.Option(help="Pipeline family: wan-vace | minimax-h3 | ltx2 (written to FOLDER/<model>/).")
] = "wan-vace") -> None:
    """Write a tiny randomly initialised diffusion pipeline (tests, demos; no network), loaded by the
    diffusion engine exactly like real weights."""
    from refvid.engines.diffusion.tiny_weights import BUILDERS, write_tiny_weights

    if model not in BUILDERS:
        raise typer.BadParameter(f"choose one of {', '.join(BUILDERS)}", param_hint="--model")
    typer.echo(str(write_tiny_weights(folder, model)))


__import__("refvid.client.cli").client.cli.register(app)  # client commands: generate, tasks


def main() -> None:
    app()


if __name__ == "__main__":
    main()

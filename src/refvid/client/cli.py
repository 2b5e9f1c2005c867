"""Client commands of the `refvid` CLI: `generate` and `tasks list|show|cancel|delete`.

They talk HTTP to a refvid server (or FoxAPI: same wire) through `refvid.Client`; `--base-url` and
`--api-key` default to `REFVID_BASE_URL` / `REFVID_API_KEY`. `--json` prints machine-readable objects on
stdout (progress and messages go to stderr). Exit codes: 0 ok, 1 API error or failed task, 2 bad input,
130 interrupted.

Ctrl-C while `generate` waits: on a terminal (and without `--json`) it asks "Cancel task X? [y/N]"; "n"
resumes waiting, a second Ctrl-C at the prompt exits and leaves the task running. Without a terminal or
with `--json` nobody can answer, so the task is cancelled at once (a script interrupting a generation
wants it stopped, not billed); the cancelled task is printed as JSON with `--json`.
"""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.prompt import Confirm
from rich.table import Table
from rich.text import Text

from refvid.api.schemas import TaskObject
from refvid.client.clients import DEFAULT_MODEL, Client
from refvid.client.errors import AuthenticationError, ClientError, ConflictError, FileTooLargeError, TaskError

BaseUrl = Annotated[str | None, typer.Option("--base-url", envvar="REFVID_BASE_URL", show_envvar=True,
                                             help="Server base URL [default: http://127.0.0.1:8000].")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="REFVID_API_KEY", show_envvar=True,
                                            help="API key (from `refvid serve`'s first start or `refvid keys "
                                                 "create` on the server).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts.")]
TaskId = Annotated[str, typer.Argument(help="Task id (task-unified-…).")]
tasks_app = typer.Typer(help="List, show, cancel and delete tasks on the server.", no_args_is_help=True)
WIDE_TABLE_COLUMNS = 140  # `tasks list` as a table from this terminal width; below it, one task per block


def make_client(base_url: str | None, api_key: str | None) -> Client:
    """The client the commands use (tests replace this to plug in an in-process transport)."""
    return Client(base_url, api_key)


def interactive() -> bool:
    """Whether someone can answer a prompt: stdin and stderr are terminals."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _err() -> Console:
    return Console(stderr=True)


def _emit_json(value: BaseModel | dict[str, Any]) -> None:
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _fail(error: ClientError | OSError, code: int = 1) -> NoReturn:
    _err().print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    if isinstance(error, AuthenticationError):
        _err().print(escape(_key_hint(error)), highlight=False)
    raise typer.Exit(code)


def _key_hint(error: AuthenticationError) -> str:
    """What to do about a 401, in the CLI's terms (the server's message speaks HTTP: 'Authorization: Bearer')."""
    make = ("A key is printed by `refvid serve` on its first start; make another on the server with "
            "`refvid keys create` (same --data-dir or REFVID_DATABASE_URL as the server).")
    if error.code == "missing_api_key":
        return f"No API key was sent: set REFVID_API_KEY or pass --api-key. {make}"
    return f"The server does not know this key: check REFVID_API_KEY / --api-key. {make}"


def _eta(task: TaskObject) -> str:
    seconds = task.task_info.estimated_time
    if task.status not in ("pending", "processing") or seconds <= 0:
        return "--:--"
    return f"{seconds // 60}:{seconds % 60:02d}"


def _describe(task: TaskObject) -> str:
    if task.results:
        r = task.results[0]
        return f"{r.width}×{r.height} {r.duration:g}s seed {r.seed}{' +audio' if r.has_audio else ''}"
    return f"{task.error.code}: {task.error.message}" if task.error else ""


def _made(task: TaskObject) -> str:
    """Which engine made the result and what it is, a placeholder said first (the compositor's title card)."""
    result = task.results[0] if task.results else None
    if result is None or not result.engine:
        return ""
    what = f": {result.made}" if result.made else ""
    return f"{'PLACEHOLDER, ' if result.placeholder else ''}made by {result.engine}{what}"


def _watch(client: Client, target: str | TaskObject, as_json: bool) -> TaskObject:
    """Wait for the task with a live progress bar (status, %, ETA, elapsed) on stderr."""
    columns = (SpinnerColumn(), TextColumn("{task.fields[status]:<10}"), BarColumn(), TaskProgressColumn(),
               TextColumn("ETA {task.fields[eta]}"), TimeElapsedColumn())
    with Progress(*columns, console=_err(), disable=as_json, transient=False) as bar:
        row = bar.add_task("task", total=100, status="waiting", eta="--:--")

        def update(current: TaskObject) -> None:
            bar.update(row, completed=current.progress, status=current.status, eta=_eta(current))

        return client.wait(target, on_progress=update)


def _on_interrupt(client: Client, task_id: str, as_json: bool) -> None:
    """Ctrl-C after submission (see the module docstring). Returns to resume waiting; else exits 130."""
    if interactive() and not as_json:
        try:
            cancel = Confirm.ask(Text(f"Cancel task {task_id}? [y/N]"), default=False, show_choices=False,
                                 show_default=False, console=_err())
        except (KeyboardInterrupt, EOFError):
            _err().print(f"\ntask {task_id} left running (refvid tasks cancel {task_id})", highlight=False)
            raise typer.Exit(130) from None
        if not cancel:
            return
    try:
        cancelled = client.cancel(task_id)
    except ConflictError:  # it finished meanwhile: go on and report how
        return
    except ClientError as exc:
        _fail(exc)
    if as_json:
        _emit_json(cancelled)
    _err().print(f"cancel requested: task {task_id} is {cancelled.status}", highlight=False)
    raise typer.Exit(130)


def generate(
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="Prompt; mention references as @Image1, "
                                        "@Video1, @Audio1.")],
    image: Annotated[list[str] | None, typer.Option("--image", "-i", metavar="PATH|URL",
                                                    help="Image reference: path or URL (repeatable, up to 9).")] = None,
    video: Annotated[list[str] | None, typer.Option("--video", "-v", metavar="PATH|URL",
                                                    help="Video reference: path or URL (repeatable, up to 3).")] = None,
    audio: Annotated[list[str] | None, typer.Option("--audio", "-a", metavar="PATH|URL",
                                                    help="Audio reference: path or URL (repeatable, up to 3).")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model id.")] = DEFAULT_MODEL,
    resolution: Annotated[str | None, typer.Option(help="480p | 720p | 1080p [server default: 720p].")] = None,
    ratio: Annotated[str | None, typer.Option(help="16:9 4:3 1:1 3:4 9:16 21:9 adaptive "
                                              "[server default: adaptive].")] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds 4–15, or -1: the engine decides "
                                                 "[server default: 5].")] = None,
    seed: Annotated[int | None, typer.Option(help="0–2147483647, or -1 for random.")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="No audio track in the output.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to save the MP4 "
                                                "[default: ./<task id>.mp4].")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Submit, print the task and exit.")] = False,
    as_json: JsonFlag = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Generate a video from references (local files are uploaded), show progress and save the MP4."""
    with make_client(base_url, api_key) as client:
        try:
            spinner: AbstractContextManager[Any] = (
                nullcontext() if as_json else _err().status("uploading references and submitting…"))
            with spinner:
                task = client.create(prompt, model=model, resolution=resolution, ratio=ratio,
                                     duration=duration, seed=seed, generate_audio=False if no_audio else None,
                                     images=image or [], videos=video or [], audios=audio or [])
        except (FileNotFoundError, FileTooLargeError) as exc:  # a file to fix before anything is sent
            _fail(exc, 2)
        except ClientError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            _err().print("interrupted before the task was submitted")
            raise typer.Exit(130) from None
        target: str | TaskObject = task
        announced = False
        while True:  # every Ctrl-C from here on is about this task, whenever it lands
            try:
                if not announced:
                    announced = True
                    _err().print(f"submitted task {task.id}", highlight=False)
                    if detach:
                        _emit_json(task) if as_json else typer.echo(task.id)
                        return
                done = _watch(client, target, as_json)
                path = client.download(done, output)
                break
            except KeyboardInterrupt:
                target = task.id  # on resume, start from the server's state
                _on_interrupt(client, task.id, as_json)
            except TaskError as exc:
                if as_json:
                    _emit_json(exc.task)
                _fail(exc)
            except ClientError as exc:
                _fail(exc)
    if as_json:
        _emit_json({**done.model_dump(mode="json"), "output_path": str(path)})
    else:
        _err().print(f"saved {path} ({_describe(done)})", highlight=False)
        if _made(done):
            _err().print(_made(done), highlight=False)


@tasks_app.command("list")
def tasks_list(
    status: Annotated[str | None, typer.Option(help="pending|processing|completed|failed|cancelled")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1–100).")] = 20,
    after: Annotated[str | None, typer.Option(help="Page after this task id.")] = None,
    as_json: JsonFlag = False, base_url: BaseUrl = None, api_key: ApiKey = None,
) -> None:
    """List tasks, newest first."""
    with make_client(base_url, api_key) as client:
        try:
            page = client.list(status=status, model=model, limit=limit, after=after)
        except ClientError as exc:
            _fail(exc)
    if as_json:
        _emit_json(page)
        return
    out = Console()
    if not out.is_terminal:  # a pipe or a file: one task per line, every field whole, tab-separated
        for task in page.data:
            typer.echo("\t".join((task.id, task.status, f"{task.progress}%", task.model, _created(task),
                                  _describe(task))))
    elif out.width >= WIDE_TABLE_COLUMNS:
        table = Table("id", "status", "%", "model", "created", "result / error")
        for task in page.data:
            table.add_row(task.id, task.status, str(task.progress), task.model, _created(task), _describe(task))
        _fold(table)
        out.print(table)
    else:  # a narrow terminal: one task per block, nothing cut to "…"
        for task in page.data:
            out.print(f"[bold]{task.id}[/]  {task.status} {task.progress}%  {_created(task)}", highlight=False)
            out.print(Text(f"  {task.model}  {_describe(task)}".rstrip()), highlight=False)
    if page.has_more:
        _err().print(f"more: refvid tasks list --after {page.last_id}", highlight=False)


def _created(task: TaskObject) -> str:
    return datetime.fromtimestamp(task.created).strftime("%Y-%m-%d %H:%M:%S")


def _fold(table: Table) -> None:
    """Cells wrap onto more lines rather than end in "…"; the id stays on one line."""
    for column in table.columns:
        column.overflow = "fold"
    table.columns[0].no_wrap = True


@tasks_app.command("show")
def tasks_show(task_id: TaskId, as_json: JsonFlag = False, base_url: BaseUrl = None,
               api_key: ApiKey = None) -> None:
    """Show one task (result URLs included)."""
    with make_client(base_url, api_key) as client:
        try:
            task = client.get(task_id)
        except ClientError as exc:
            _fail(exc)
    if as_json:
        _emit_json(task)
        return
    out = Console(soft_wrap=True)
    out.print(f"{task.id}  {task.status} {task.progress}%  {task.model}", highlight=False)
    out.print(f"can_cancel={task.task_info.can_cancel}  estimated_time={task.task_info.estimated_time}s",
              highlight=False)
    for result in task.results or []:
        out.print(f"result: {_describe(task)}\n  {result.url}", highlight=False)
    if _made(task):
        out.print(_made(task), highlight=False)
    if task.error:
        out.print(f"error: {task.error.code}: {task.error.message}", highlight=False)


@tasks_app.command("cancel")
def tasks_cancel(task_id: TaskId, as_json: JsonFlag = False, base_url: BaseUrl = None,
                 api_key: ApiKey = None) -> None:
    """Cancel a pending or running task."""
    with make_client(base_url, api_key) as client:
        try:
            task = client.cancel(task_id)
        except ClientError as exc:
            _fail(exc)
    _emit_json(task) if as_json else typer.echo(f"{task.id} {task.status}")


@tasks_app.command("delete")
def tasks_delete(task_id: TaskId, as_json: JsonFlag = False, base_url: BaseUrl = None,
                 api_key: ApiKey = None) -> None:
    """Delete a finished task and its files."""
    with make_client(base_url, api_key) as client:
        try:
            deleted = client.delete(task_id)
        except ClientError as exc:
            _fail(exc)
    _emit_json(deleted) if as_json else typer.echo(f"{deleted.id} deleted")


def register(app: typer.Typer) -> None:
    """Add `generate` and the `tasks` group to the `refvid` command."""
    app.command("generate")(generate)
    app.add_typer(tasks_app, name="tasks")

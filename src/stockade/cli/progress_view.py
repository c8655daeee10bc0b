"""Show image import and build progress with rich, on stderr so --json stays clean."""

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)


class RichProgress:
    """Implements stockade.images.Progress: one bar per layer, a status line for steps."""

    def __init__(self, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                             DownloadColumn(binary_units=True), TransferSpeedColumn(),
                             TimeElapsedColumn(), console=console, transient=False,
                             disable=not enabled or not console.is_terminal)
        self._console = console
        self._enabled = enabled
        self._task: TaskID | None = None

    def __enter__(self) -> "RichProgress":
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._bar.stop()

    def layer_started(self, index: int, total: int, digest: str, size: int | None) -> None:
        label = f"layer {index + 1}/{total} {digest.removeprefix('sha256:')[:12]}"
        self._task = self._bar.add_task(label, total=size)

    def advanced(self, nbytes: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, nbytes)

    def layer_finished(self, digest: str, reused: bool) -> None:
        if self._task is not None:
            task = self._bar.tasks[-1]
            note = " (already stored)" if reused else ""
            self._bar.update(self._task, total=task.completed or 1,
                             completed=task.completed or 1,
                             description=f"{task.description} done{note}")
        self._task = None

    def message(self, text: str) -> None:
        if self._enabled:
            self._bar.console.print(f"[dim]{text}[/dim]", highlight=False)

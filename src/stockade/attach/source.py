"""What an attacher follows: a process's log, its monitor's socket and fifo, and its end."""

from collections.abc import Callable
from dataclasses import dataclass

from stockade.runtime.conmon import MonitorPaths
from stockade.runtime.logfile import LogFiles
from stockade.wire.stream import ExitMessage


@dataclass(frozen=True)
class Gone:
    """The process has no exit code to report; why, in one line."""

    reason: str


@dataclass(frozen=True)
class Source:
    handle: str
    id: str
    tty: bool
    files: LogFiles
    paths: MonitorPaths
    # how it ended once its output is complete; None while it runs (may block briefly)
    ended: Callable[[], ExitMessage | Gone | None]
    signal: Callable[[str], None]
    running: bool

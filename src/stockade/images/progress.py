"""How long work reports its progress; the front door decides how to show it."""

from typing import Protocol


class Progress(Protocol):
    """Callbacks from an import or build; every method must be cheap."""

    def layer_started(self, index: int, total: int, digest: str, size: int | None) -> None: ...

    def advanced(self, nbytes: int) -> None: ...

    def layer_finished(self, digest: str, reused: bool) -> None: ...

    def message(self, text: str) -> None: ...


class NoProgress:
    """The default: report nothing."""

    def layer_started(self, index: int, total: int, digest: str, size: int | None) -> None:
        pass

    def advanced(self, nbytes: int) -> None:
        pass

    def layer_finished(self, digest: str, reused: bool) -> None:
        pass

    def message(self, text: str) -> None:
        pass

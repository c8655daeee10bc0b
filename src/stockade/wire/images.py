"""Images as the API shows them, what a gc freed, and the progress callbacks of an import
or build. The image store (stockade.images) keeps its own records and re-exports these."""

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class ImageConfig(BaseModel):
    """The run defaults an image carries (OCI config subset)."""

    model_config = ConfigDict(frozen=True)

    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = "/"
    user: str | None = None


class Package(BaseModel):
    """One installed distribution package, for later vulnerability checks."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    architecture: str = ""


class Image(BaseModel):
    """A named image: read-only layer directories, bottom first, and its config."""

    model_config = ConfigDict(frozen=True)

    name: str
    digest: str
    layers: tuple[Path, ...]
    config: ImageConfig
    size_bytes: int = 0
    layer_keys: tuple[str, ...] = ()
    created_at: float = 0.0
    source: str = ""
    packages: tuple[Package, ...] = ()
    notes: tuple[str, ...] = ()


class GcReport(BaseModel):
    removed_layers: list[str]
    freed_bytes: int


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

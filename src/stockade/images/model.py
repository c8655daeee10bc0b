"""What the store knows of one image."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class ImageConfig(BaseModel):
    """The run defaults an image carries (OCI config subset)."""

    model_config = ConfigDict(frozen=True)

    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = "/"
    user: str | None = None


class Image(BaseModel):
    """A named image: read-only layer directories, bottom first, and its config."""

    model_config = ConfigDict(frozen=True)

    name: str
    digest: str
    layers: tuple[Path, ...]
    config: ImageConfig
    size_bytes: int = 0

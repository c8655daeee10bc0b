"""What the store knows of layers and images."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"


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


class LayerRecord(BaseModel):
    """A layer unpacked once into the store, named by the digest of its uncompressed tar."""

    model_config = ConfigDict(frozen=True)

    key: str  # directory name: the diff id's hex, plus a suffix when setuid bits were kept
    diff_id: str
    size_bytes: int
    entries: int
    created_at: float
    stripped_setuid: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


class ImageRecord(BaseModel):
    """The persisted form of an image: layer keys, not paths, so the store can move."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    digest: str
    layer_keys: tuple[str, ...]
    config: ImageConfig
    size_bytes: int
    created_at: float
    source: str
    packages: tuple[Package, ...] = ()
    notes: tuple[str, ...] = ()


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

"""What the store knows of layers and images."""

from pydantic import BaseModel, ConfigDict, Field

from stockade.wire.images import Image, ImageConfig, Package

__all__ = ["NAME_PATTERN", "Image", "ImageConfig", "ImageRecord", "LayerRecord", "Package"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"


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

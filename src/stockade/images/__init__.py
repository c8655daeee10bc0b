"""Images: the store of read-only layers and the embedded default image."""

from stockade.images.model import Image, ImageConfig
from stockade.images.store import ImageStore

__all__ = ["Image", "ImageConfig", "ImageStore"]

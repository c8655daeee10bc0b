"""Images: the store of read-only layers, the embedded default image and the base image."""

from stockade.images.embedded import NAME as EMBEDDED_NAME
from stockade.images.model import Image, ImageConfig, ImageRecord, Package
from stockade.images.progress import NoProgress, Progress
from stockade.images.store import ImageStore
from stockade.wire.images import GcReport

__all__ = ["EMBEDDED_NAME", "GcReport", "Image", "ImageConfig", "ImageRecord", "ImageStore",
           "NoProgress", "Package", "Progress"]

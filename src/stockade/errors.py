"""Errors shared by every component; front doors turn them into one clear line."""


class StockadeError(Exception):
    """A failure the user can act on; the message is shown as is."""


class InvalidSpec(StockadeError, ValueError):
    """The request is malformed or out of bounds."""


class NotFound(StockadeError):
    """A named container or image does not exist."""


class Conflict(StockadeError):
    """The request clashes with existing state (a handle in use, an image in use)."""


class HostUnsupported(StockadeError):
    """The host lacks something the request needs."""


class ImageError(StockadeError):
    """An image or archive is malformed, hostile, or does not match its digests."""

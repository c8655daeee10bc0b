"""Errors shared by every component; front doors turn them into one clear line."""


class StockadeError(Exception):
    """A failure the user can act on; the message is shown as is."""


class InvalidSpec(StockadeError, ValueError):
    """The request is malformed or out of bounds."""


class NotFound(StockadeError):
    """A named container or image does not exist."""


class Conflict(StockadeError):
    """The request clashes with existing state (a handle in use, an image in use)."""


class Forbidden(StockadeError):
    """The caller's role may not do this; the message names the field or the action."""


class LimitReached(StockadeError):
    """The caller is at one of its limits (containers, streams, request rate)."""


class HostUnsupported(StockadeError):
    """The host lacks something the request needs."""


class ImageError(StockadeError):
    """An image or archive is malformed, hostile, or does not match its digests."""


# How each error crosses the API: the kind named in the JSON body and the HTTP status.
# Most specific first: the daemon answers with the first that matches, and the client
# raises the class of the kind it reads back.
WIRE_KINDS: tuple[tuple[type[StockadeError], str, int], ...] = (
    (NotFound, "not_found", 404),
    (Forbidden, "forbidden", 403),
    (LimitReached, "too_many", 429),
    (Conflict, "conflict", 409),
    (InvalidSpec, "invalid", 422),
    (ImageError, "invalid_image", 422),
    (HostUnsupported, "unsupported", 501),
)

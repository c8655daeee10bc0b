"""Errors shared by every component; front doors turn them into one clear line."""


class StockadeError(Exception):
    """A failure the user can act on; the message is shown as is."""


class InvalidSpec(StockadeError, ValueError):
    """The request is malformed or out of bounds."""


class CommandNotFound(InvalidSpec):
    """The command to run is not in the container: nothing by that path, or no executable
    file by that name on its PATH. The CLI exits 127, as docker and a shell do."""


class CommandNotRunnable(InvalidSpec):
    """The command is there but cannot be executed: not an executable file, or a directory.
    The CLI exits 126, as docker and a shell do."""


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

# Kinds that refine one of WIRE_KINDS: the HTTP status is their base class's (both are 422,
# as InvalidSpec), the body names their own kind, and the client raises the exact class, so
# the CLI can exit 127 or 126. They stay out of WIRE_KINDS on purpose: a process stream's
# close code carries only the status (wire/stream.py), and each status there must map back
# to one class (4422 to InvalidSpec, not to a missing command).
WIRE_SUBKINDS: tuple[tuple[type[StockadeError], str], ...] = (
    (CommandNotFound, "command_not_found"),
    (CommandNotRunnable, "command_not_runnable"),
)

"""API error bodies back into the exceptions the engine raised."""

from typing import Any

from stockade.client.transport import Response
from stockade.errors import WIRE_KINDS, WIRE_SUBKINDS, InvalidSpec, StockadeError

# the engine's kinds, and the refusals that come before it: malformed JSON, too large a body
_BY_KIND: dict[str, type[StockadeError]] = {kind: cls for cls, kind, _ in WIRE_KINDS} | {
    kind: cls for cls, kind in WIRE_SUBKINDS} | {
    "bad_request": InvalidSpec, "too_large": InvalidSpec}


class DaemonUnavailable(StockadeError):
    """Nothing answers on the socket."""


def from_body(status: int, payload: Any) -> StockadeError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return StockadeError(f"the daemon answered {status}: {str(payload)[:200]}")
    cls = _BY_KIND.get(str(error.get("kind")), StockadeError)
    return cls(str(error.get("message", "unknown error")))


def from_response(response: Response) -> StockadeError:
    try:
        payload = response.json()
    except ValueError:
        payload = response.text
    return from_body(response.status, payload)


def unavailable(socket: str, cause: OSError | None = None) -> DaemonUnavailable:
    if cause is not None and not isinstance(cause, FileNotFoundError | ConnectionRefusedError):
        # the socket is there and took the call, but the exchange failed midway
        return DaemonUnavailable(f"the stockade daemon at {socket} did not answer: {cause}")
    return DaemonUnavailable(
        f"no stockade daemon answers at {socket}: start it with `stockade server` "
        "(as root; add --detach to run it in the background)")

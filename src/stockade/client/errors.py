"""API error bodies back into the exceptions the engine raised."""

from typing import Any

from stockade.client.transport import Response
from stockade.errors import WIRE_KINDS, WIRE_SUBKINDS, Forbidden, InvalidSpec, StockadeError

# the engine's kinds, and the refusals that come before it: malformed JSON, too large a body
_BY_KIND: dict[str, type[StockadeError]] = {kind: cls for cls, kind, _ in WIRE_KINDS} | {
    kind: cls for cls, kind in WIRE_SUBKINDS} | {
    "bad_request": InvalidSpec, "too_large": InvalidSpec, "unauthorized": Forbidden}


class DaemonUnavailable(StockadeError):
    """Nothing answers on the socket."""


class TlsFailure(ConnectionError):
    """The TLS handshake with a remote daemon failed (its certificate, or ours)."""


def from_body(status: int, payload: Any) -> StockadeError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return StockadeError(f"the daemon answered {status}: {str(payload)[:200]}")
    kind = str(error.get("kind"))
    message = str(error.get("message", "unknown error"))
    if kind == "unauthorized":  # a remote daemon that knows neither our token nor our cert
        message = (f"the daemon did not accept our credentials: {message} (check "
                   "--token-file, or --tlscert and --tlskey)")
    return _BY_KIND.get(kind, StockadeError)(message)


def from_response(response: Response) -> StockadeError:
    try:
        payload = response.json()
    except ValueError:
        payload = response.text
    return from_body(response.status, payload)


def unavailable(socket: str, cause: OSError | None = None) -> DaemonUnavailable:
    remote = socket.startswith("tcp://")
    if isinstance(cause, TlsFailure):
        return DaemonUnavailable(f"cannot reach the stockade daemon at {socket}: {cause}")
    if remote and isinstance(cause, FileNotFoundError | ConnectionRefusedError):
        return DaemonUnavailable(f"no stockade daemon answers at {socket} ({cause.strerror}): "
                                 "is it running, with a [tcp] listener on that port?")
    if cause is not None and not isinstance(cause, FileNotFoundError | ConnectionRefusedError):
        # the socket is there and took the call, but the exchange failed midway
        return DaemonUnavailable(f"the stockade daemon at {socket} did not answer: {cause}")
    return DaemonUnavailable(
        f"no stockade daemon answers at {socket}: start it with `stockade server` "
        "(as root; add --detach to run it in the background)")

"""The Python client of the stockade API (HTTP over the unix socket; client/transport.py)."""

from typing import TYPE_CHECKING, Any

from stockade.client.base import JsonClient
from stockade.client.errors import DaemonUnavailable

if TYPE_CHECKING:
    from stockade.client.client import Client, ProcessResult


def __getattr__(name: str) -> Any:
    """`Client` loads the pydantic models it returns on first use, so a command that never
    talks to the daemon (`stockade --help`) or needs only JSON (`JsonClient`: `stockade
    ps`) does not pay for them."""
    if name in ("Client", "ProcessResult"):
        from stockade.client import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Client", "DaemonUnavailable", "JsonClient", "ProcessResult"]

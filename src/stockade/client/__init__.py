"""The Python client of the stockade API (httpx over the unix socket)."""

from stockade.client.client import Client, ProcessResult
from stockade.client.errors import DaemonUnavailable

__all__ = ["Client", "DaemonUnavailable", "ProcessResult"]

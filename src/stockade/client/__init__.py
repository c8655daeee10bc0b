"""The Python client of the stockade API (HTTP over the unix socket; client/transport.py)."""

from stockade.client.client import Client, ProcessResult
from stockade.client.errors import DaemonUnavailable

__all__ = ["Client", "DaemonUnavailable", "ProcessResult"]

"""What the daemon, the client and the CLI agree on without importing each other: where
the daemon listens by default and where its settings file is (here), the request and
response bodies (`models`, `images`, `verify`, `logs`; the rest are `stockade.spec`
models), and the process-stream protocol (`process`, `stream`). Pure: pydantic and the
standard library only. This package is kept free of imports so the defaults cost nothing
to read."""

from pathlib import Path

DEFAULT_SOCKET = Path("/run/stockade/stockade.sock")
SETTINGS_FILE = Path("/etc/stockade/stockade.toml")
SETTINGS_VARIABLE = "STOCKADE_CONFIG"  # names another settings file

__all__ = ["DEFAULT_SOCKET", "SETTINGS_FILE", "SETTINGS_VARIABLE"]

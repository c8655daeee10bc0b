"""What the daemon, the client and the CLI agree on without importing each other: where
the daemon listens by default and where its settings file is."""

from pathlib import Path

DEFAULT_SOCKET = Path("/run/stockade/stockade.sock")
SETTINGS_FILE = Path("/etc/stockade/stockade.toml")
SETTINGS_VARIABLE = "STOCKADE_CONFIG"  # names another settings file

__all__ = ["DEFAULT_SOCKET", "SETTINGS_FILE", "SETTINGS_VARIABLE"]

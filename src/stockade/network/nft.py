"""Run nftables JSON batches through libnftables: each batch is one atomic transaction."""

import threading
from typing import Any

import nftables

from stockade.errors import StockadeError
from stockade.network.nftjson import Command


class NftError(StockadeError):
    """libnftables refused a batch; nothing of it was applied."""


class Nft:
    """One libnftables context; calls are serialised because the context is not re-entrant."""

    def __init__(self) -> None:
        self._ctx = nftables.Nftables()
        self._ctx.set_json_output(True)
        self._ctx.set_handle_output(False)
        self._lock = threading.Lock()

    def apply(self, commands: list[Command]) -> None:
        """All of `commands` in one transaction, or none of them."""
        if not commands:
            return
        with self._lock:
            rc, _, error = self._ctx.json_cmd({"nftables": commands})
        if rc != 0:
            raise NftError(f"nftables refused the change: {_first_line(error)}")

    def query(self, command: Command) -> list[dict[str, Any]] | None:
        """The objects a `list` command returns, or None when they do not exist."""
        with self._lock:
            rc, output, _ = self._ctx.json_cmd({"nftables": [command]})
        if rc != 0:
            return None
        items: list[dict[str, Any]] = [item for item in output.get("nftables", [])
                                       if "metainfo" not in item]
        return items

    def table_exists(self, table: str) -> bool:
        """Asks for one small set: listing a chain or the tables makes libnftables fetch
        every set element of the table, which costs time in proportion to the rules."""
        found = self.query({"list": {"set": {"family": "inet", "table": table,
                                             "name": "containers"}}})
        return found is not None

    def set_elements(self, table: str, name: str) -> list[Any]:
        found = self.query({"list": {"set": {"family": "inet", "table": table, "name": name}}})
        for item in found or []:
            if "set" in item:
                return list(item["set"].get("elem", []))
        return []


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no error text"

"""The host baseline routes over the API (`client.host`)."""

from collections.abc import Callable
from typing import Any, Literal

Call = Callable[..., Any]


class HostClient:
    def __init__(self, call: Call) -> None:
        self._call = call

    def check(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/host/check")
        return result

    def harden(self, action: Literal["apply", "revert"], dry_run: bool) -> dict[str, Any]:
        # the body of wire.host.HardenRequest, built without loading pydantic
        result: dict[str, Any] = self._call("POST", "/v1/host/harden",
                                            {"action": action, "dry_run": dry_run})
        return result

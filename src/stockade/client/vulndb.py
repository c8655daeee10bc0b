"""The vulnerability database routes over the API (`client.vulndb`)."""

from collections.abc import Callable
from typing import Any

from stockade.wire.vulndb import VulnDBStatus

Call = Callable[..., Any]


class VulnDBClient:
    def __init__(self, call: Call) -> None:
        self._call = call

    def status(self) -> VulnDBStatus:
        return VulnDBStatus.model_validate(self._call("GET", "/v1/vulndb"))

    def update(self, source: str) -> VulnDBStatus:
        """Load the feed at `source`: a path on the daemon's host or an http(s) URL the
        daemon fetches."""
        return VulnDBStatus.model_validate(
            self._call("POST", "/v1/vulndb/update", {"source": source}))

"""The engine's `net` operations (security groups, network policies) over the API."""

from collections.abc import Callable
from typing import Any

from stockade.spec import EgressRule, NetworkPolicy, SecurityGroup

Call = Callable[..., Any]


def _binding(handle: str | None) -> dict[str, Any]:
    return {"container": handle} if handle is not None else {"default": True}


class NetClient:
    def __init__(self, call: Call) -> None:
        self._call = call

    def create_group(self, name: str, rules: list[EgressRule]) -> SecurityGroup:
        return SecurityGroup.model_validate(self._call(
            "POST", "/v1/security-groups",
            {"name": name, "rules": [r.model_dump(mode="json") for r in rules]}))

    def update_group(self, name: str, rules: list[EgressRule]) -> SecurityGroup:
        return SecurityGroup.model_validate(self._call(
            "PUT", f"/v1/security-groups/{name}",
            {"rules": [r.model_dump(mode="json") for r in rules]}))

    def remove_group(self, name: str) -> None:
        self._call("DELETE", f"/v1/security-groups/{name}")

    def list_groups(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/security-groups"))

    def show_group(self, name: str) -> SecurityGroup:
        return SecurityGroup.model_validate(self._call("GET", f"/v1/security-groups/{name}"))

    def bind(self, name: str, handle: str | None) -> None:
        self._call("POST", f"/v1/security-groups/{name}/bind", _binding(handle))

    def unbind(self, name: str, handle: str | None) -> None:
        self._call("POST", f"/v1/security-groups/{name}/unbind", _binding(handle))

    def allow(self, policy: NetworkPolicy) -> None:
        self._call("POST", "/v1/network-policies", policy.model_dump(mode="json"))

    def deny(self, policy: NetworkPolicy) -> None:
        self._call("POST", "/v1/network-policies/deny", policy.model_dump(mode="json"))

    def policies(self) -> list[NetworkPolicy]:
        return [NetworkPolicy.model_validate(p) for p in self._call("GET", "/v1/network-policies")]

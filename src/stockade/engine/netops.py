"""The engine's network operations: security groups, bindings, policies, published ports.

The state store is the record; the network manager makes the firewall agree with it.
Every change is recorded first and applied second, and a failed apply rolls the record
back, so the two never disagree for long."""

from collections.abc import Callable
from typing import Any

from stockade.engine.state import DEFAULT_TARGET, StateStore
from stockade.errors import Conflict, InvalidSpec, NotFound
from stockade.network import NetworkManager, PortLease
from stockade.spec import EgressRule, NetworkPolicy, PortMapping, SecurityGroup


class StateGroups:
    """The GroupSource the network manager loads groups from."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def digest(self, name: str) -> str:
        return self.state.group_digest(name)

    def load(self, name: str) -> SecurityGroup:
        return self.state.group(name)


class NetworkOps:
    def __init__(self, state: StateStore, network: NetworkManager,
                 known: Callable[[str], bool]) -> None:
        self.state = state
        self.network = network
        self.groups = StateGroups(state)
        self._known = known

    # -- security groups ------------------------------------------------------------------

    def create_group(self, name: str, rules: list[EgressRule]) -> SecurityGroup:
        group = SecurityGroup(name=name, rules=rules)
        self.state.save_group(group, replace=False)
        return group

    def update_group(self, name: str, rules: list[EgressRule]) -> SecurityGroup:
        """Replace the rules; containers using the group see the change at once."""
        previous = self.state.group(name)
        group = SecurityGroup(name=name, rules=rules)
        self.state.save_group(group, replace=True)
        self._or_restore(lambda: self.network.update_group(group),
                         lambda: self.state.save_group(previous, replace=True))
        return group

    def remove_group(self, name: str) -> None:
        self.state.group(name)
        bound = self.state.bindings_of_group(name)
        if bound:
            where = ", ".join("--default" if t == DEFAULT_TARGET else t for t in bound)
            raise Conflict(f"security group {name} is bound ({where}); unbind it first")
        self.network.remove_group(name)
        self.state.delete_group(name)

    def list_groups(self) -> list[dict[str, Any]]:
        return [{"name": name, "rules": count,
                 "default": DEFAULT_TARGET in targets,
                 "containers": [t for t in targets if t != DEFAULT_TARGET]}
                for name, count, targets in self.state.group_summaries()]

    def show_group(self, name: str) -> SecurityGroup:
        return self.state.group(name)

    def bind(self, name: str, handle: str | None) -> None:
        """Bind to one container (handle) or as a platform default (None)."""
        self.state.group(name)
        target = DEFAULT_TARGET if handle is None else handle
        if handle is not None and not self._known(handle):
            raise NotFound(f"no such container: {handle}")
        if name in self.state.bound(target):
            return
        self.state.bind(name, target)
        self._or_restore(lambda: self._apply_bindings(handle),
                         lambda: self.state.unbind(name, target))

    def unbind(self, name: str, handle: str | None) -> None:
        target = DEFAULT_TARGET if handle is None else handle
        if not self.state.unbind(name, target):
            where = "as a default" if handle is None else f"to {handle}"
            raise NotFound(f"security group {name} is not bound {where}")
        self._or_restore(lambda: self._apply_bindings(handle),
                         lambda: self.state.bind(name, target))

    def _apply_bindings(self, handle: str | None) -> None:
        if handle is None:
            self.network.set_defaults(self.state.bound(DEFAULT_TARGET), self.groups)
        else:
            self.network.set_container_groups(handle, self.state.bound(handle), self.groups)

    @staticmethod
    def _or_restore(apply: Callable[[], None], restore: Callable[[], object]) -> None:
        try:
            apply()
        except BaseException:
            restore()
            raise

    # -- container-to-container policy --------------------------------------------------------

    def allow(self, policy: NetworkPolicy) -> None:
        if policy.source == policy.destination:
            raise InvalidSpec("a container always reaches itself; name two containers")
        for handle in (policy.source, policy.destination):
            if not self._known(handle):
                raise NotFound(f"no such container: {handle}")
        self.state.add_policy(policy)
        self._or_restore(lambda: self.network.apply_policy(policy, allow=True),
                         lambda: self.state.remove_policy(policy))

    def deny(self, policy: NetworkPolicy) -> None:
        if not self.state.remove_policy(policy):
            raise NotFound(f"no policy lets {policy.source} reach {policy.destination} on "
                           f"{policy.protocol}/{policy.port}")
        self._or_restore(lambda: self.network.apply_policy(policy, allow=False),
                         lambda: self.state.add_policy(policy))

    def policies(self) -> list[NetworkPolicy]:
        return self.state.policies()

    # -- published ports -----------------------------------------------------------------------

    def publish(self, handle: str, mapping: PortMapping) -> PortLease:
        if not self._known(handle):
            raise NotFound(f"no such container: {handle}")
        return self.network.publish(handle, mapping)

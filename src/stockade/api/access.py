"""Who a caller is and what its role lets it do.

The unix socket is root's alone (mode 0600), so its callers are `admin` with no limits.
Over TLS an identity is a client certificate (by common name) or a bearer token (by name),
and its role comes from the `[access]` settings. A `developer` gets the default hardening
and nothing that reaches past its own containers: no unsafe option, no capability or host
path or security group an operator did not list, no device, no import from host paths,
no change to groups, policies or the host. It sees only the containers it created; any
other handle answers exactly as a handle that does not exist, so names do not leak.
"""

import hmac
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from stockade.api.config import AccessConfig, Role, RoleLimits, ServerConfig
from stockade.engine import Engine
from stockade.errors import Forbidden, NotFound
from stockade.spec import ContainerSpec

IDENTITY_KEY = "stockade.identity"
LOCAL = "local"  # the owner name of containers made through the unix socket


@dataclass(frozen=True)
class Identity:
    name: str  # "local", "cert:<common name>" or "token:<name>"
    role: Role
    limits: RoleLimits | None  # None: no limits (root on the unix socket)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def describe(self) -> str:
        return f"{self.name} (role {self.role})"


ROOT = Identity(LOCAL, "admin", None)


def _read_token(path: Any) -> str:
    token = str(path.read_text()).strip()
    if len(token) < 16:
        raise ValueError(f"the token in {path} is too short (16 characters at least)")
    return token


class Identities:
    """Turns a connection's credentials into an Identity, or None when it has none."""

    def __init__(self, config: ServerConfig) -> None:
        self.access = config.access
        tcp = config.tcp
        self.client_ca = bool(tcp and tcp.client_ca)
        self.tokens: list[tuple[str, str, Role]] = []  # (secret, identity name, role)
        if tcp and tcp.token_file:
            self.tokens.append((_read_token(tcp.token_file), "token:default",
                                self.access.remote_role))
        for named in self.access.tokens:
            self.tokens.append((_read_token(named.file), f"token:{named.name}", named.role))

    def _make(self, name: str, role: Role) -> Identity:
        return Identity(name, role, self.access.limits_for(role))

    def identify(self, peer: dict[str, Any] | None, authorization: str) -> Identity | None:
        if not peer or peer.get("transport") != "tls":
            return ROOT  # the unix socket: root-only by its file mode
        if self.client_ca and peer.get("cert"):
            common_name = str(peer["cert"])
            return self._make(f"cert:{common_name}",
                              self.access.certificates.get(common_name, self.access.remote_role))
        found = None
        for secret, name, role in self.tokens:  # compare with every token: constant time
            if hmac.compare_digest(authorization, f"Bearer {secret}"):
                found = self._make(name, role)
        return found


def _under(path: str, bases: list[Any]) -> bool:
    candidate = PurePosixPath(path)
    return any(candidate == PurePosixPath(b) or PurePosixPath(b) in candidate.parents
               for b in bases)


def create_refusal(identity: Identity, spec: ContainerSpec, access: AccessConfig) -> str | None:
    """Why this identity may not create this spec (naming the field), or None. Paths are
    compared as written; the engine then resolves them without following symlinks."""
    if identity.is_admin:
        return None
    unsafe = spec.unsafe
    for field in ("disable_seccomp", "disable_userns", "disable_mac"):
        if getattr(unsafe, field):
            return f"unsafe.{field} is not allowed for role {identity.role}"
    if unsafe.cap_add:
        return f"unsafe.cap_add ({unsafe.cap_add[0]}) is not allowed for role {identity.role}"
    if spec.allow_32bit:  # a wider kernel surface than the default filter: like unsafe
        return f"allow_32bit is not allowed for role {identity.role}"
    for cap in spec.cap_add:
        if cap not in access.developer_cap_add:
            return (f"cap_add {cap} is not allowed for role {identity.role} (the operator's "
                    f"list, access.developer_cap_add, does not name it)")
    if spec.devices:
        return f"devices ({spec.devices[0]}) are not allowed for role {identity.role}"
    for index, mount in enumerate(spec.mounts):
        if not _under(mount.host_path, list(access.developer_bind_paths)):
            return (f"mounts[{index}].host_path {mount.host_path} is not allowed for role "
                    f"{identity.role} (not under access.developer_bind_paths)")
    for group in spec.security_groups:
        if group not in access.developer_security_groups:
            return (f"security_groups {group} is not allowed for role {identity.role} "
                    f"(not in access.developer_security_groups)")
    return None


def check_create(identity: Identity, spec: ContainerSpec, access: AccessConfig) -> None:
    refusal = create_refusal(identity, spec, access)
    if refusal is not None:
        raise Forbidden(refusal)


def require_admin(identity: Identity, action: str) -> None:
    if not identity.is_admin:
        raise Forbidden(f"{action} is not allowed for role {identity.role}")


def may_see(identity: Identity, owner: str) -> bool:
    return identity.is_admin or owner == identity.name


def check_visible(engine: Engine, identity: Identity, handle: str) -> None:
    """NotFound unless `identity` may see `handle`, worded as the engine words it for a
    handle that does not exist."""
    if not may_see(identity, engine.state.get(handle).owner):
        raise NotFound(f"no such container: {handle}")

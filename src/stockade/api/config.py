"""Daemon settings: where it listens, how a TCP client proves who it is, how it logs."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stockade.engine.config import EngineConfig
from stockade.spec import cap_name
from stockade.wire import DEFAULT_SOCKET


class TlsListener(BaseModel):
    """TCP is served only over TLS, and only to clients with a certificate or a token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    certificate: Path
    key: Path
    client_ca: Path | None = None  # clients must present a certificate signed by it
    token_file: Path | None = None  # or a bearer token equal to this file's content

    @model_validator(mode="after")
    def _authenticated(self) -> "TlsListener":
        if self.client_ca is None and self.token_file is None:
            raise ValueError("a TCP listener needs client_ca or token_file: "
                             "unauthenticated TCP is never served")
        return self


Role = Literal["admin", "developer"]


class RoleLimits(BaseModel):
    """What one identity of a role may hold at once; None is no limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    containers: int | None = Field(default=None, ge=0)
    process_streams: int | None = Field(default=None, ge=0)  # open WebSocket streams
    requests_per_second: float | None = Field(default=None, gt=0)
    burst: int = Field(default=100, ge=1)  # requests allowed at once before the rate applies


class NamedToken(BaseModel):
    """A bearer token of its own, with the identity and role it stands for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    file: Path
    role: Role = "developer"


class DeveloperLimits(RoleLimits):
    """A developer's defaults, so a table that sets one limit keeps the others."""

    containers: int | None = Field(default=100, ge=0)
    process_streams: int | None = Field(default=32, ge=0)
    requests_per_second: float | None = Field(default=50, gt=0)
    burst: int = Field(default=200, ge=1)


class AccessConfig(BaseModel):
    """Who may do what over TCP. The unix socket is root's alone, so its callers are
    admin; every TLS identity gets a role here (docs/daemon.md has the table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    remote_role: Role = "developer"  # a TLS identity not named below
    certificates: dict[str, Role] = {}  # client certificate common name -> role
    tokens: list[NamedToken] = []  # tokens beside tcp.token_file (which is "default")
    # what a developer may ask for beyond the default hardening (operator-set)
    developer_cap_add: list[str] = []  # as --cap-add spells them: NET_RAW or CAP_NET_RAW
    developer_bind_paths: list[Path] = []
    developer_security_groups: list[str] = []
    developer_limits: DeveloperLimits = DeveloperLimits()
    admin_limits: RoleLimits = RoleLimits()  # remote admins; root on the socket has none

    @field_validator("developer_cap_add")
    @classmethod
    def _caps(cls, value: list[str]) -> list[str]:
        return [cap_name(c) for c in value]  # specs hold them as CAP_X

    def limits_for(self, role: Role) -> RoleLimits:
        return self.developer_limits if role == "developer" else self.admin_limits


class ServerConfig(BaseModel):
    """Everything the daemon is set with: the top level of the settings file, with the
    engine's settings in its `[engine]` table (see stockade.settings for the merge)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    socket: Path = DEFAULT_SOCKET
    tcp: TlsListener | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    # an archive copied into a container (PUT /containers/{h}/archive); its disk quota holds
    # what is written anyway
    max_archive_bytes: int = Field(default=1 << 30, ge=1024)
    reaper_interval_s: float = Field(default=0.5, gt=0)
    # the host baseline (docs/host.md): how often drift is looked for, the containers the
    # kernel key quota must hold, and where `host harden` writes its sysctl drop-in
    host_check_interval_s: float = Field(default=60, gt=0)
    host_containers: int = Field(default=250, ge=1)
    host_sysctl_dropin: Path = Path("/etc/sysctl.d/60-stockade-hardening.conf")
    process_retention_s: float = Field(default=300, ge=0)
    # Landlock denials as container events; "auto" turns kernel audit on while it runs
    landlock_events: Literal["auto", "off"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    log_file: Path | None = None  # None: stderr (the journal under systemd)
    access: AccessConfig = AccessConfig()
    engine: EngineConfig = EngineConfig()

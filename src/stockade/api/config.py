"""Daemon settings: where it listens and how a TCP client proves who it is."""

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stockade.errors import InvalidSpec

DEFAULT_SOCKET = Path("/run/stockade/stockade.sock")


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


class ServerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path | None = None  # None: STOCKADE_ROOT or /var/lib/stockade
    socket: Path = DEFAULT_SOCKET
    tcp: TlsListener | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    reaper_interval_s: float = Field(default=0.5, gt=0)
    process_retention_s: float = Field(default=300, ge=0)

    @classmethod
    def load(cls, path: Path | None, **overrides: object) -> "ServerConfig":
        """The TOML file, then command-line overrides (None means not given)."""
        data: dict[str, object] = {}
        if path is not None:
            try:
                data = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise InvalidSpec(f"cannot read server config {path}: {exc}") from exc
        data |= {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidSpec(f"invalid server config {where}: {first['msg']}") from exc

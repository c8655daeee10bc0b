"""Daemon settings: where it listens, how a TCP client proves who it is, how it logs."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stockade.engine.config import EngineConfig
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


class ServerConfig(BaseModel):
    """Everything the daemon is set with: the top level of the settings file, with the
    engine's settings in its `[engine]` table (see stockade.settings for the merge)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    socket: Path = DEFAULT_SOCKET
    tcp: TlsListener | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    reaper_interval_s: float = Field(default=0.5, gt=0)
    process_retention_s: float = Field(default=300, ge=0)
    # Landlock denials as container events; "auto" turns kernel audit on while it runs
    landlock_events: Literal["auto", "off"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    log_file: Path | None = None  # None: stderr (the journal under systemd)
    engine: EngineConfig = EngineConfig()

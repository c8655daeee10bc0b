"""Request and response bodies that are the API's own (the rest are spec models)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stockade.spec import HANDLE_PATTERN, ContainerInfo, ContainerSpec, EgressRule, HostAddress


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateRequest(_Body):
    spec: ContainerSpec
    start: bool = True  # ignored with attach: the client starts once it is attached
    attach: bool = False  # stream the main process's stdio over /processes/init/attach
    auto_remove: bool = False  # destroy once the main process has exited
    # keep the main process's stdin open for a later attacher (always so with attach)
    stdin: bool = False


class BulkInfoRequest(_Body):
    handles: list[str] = Field(max_length=1000)


class BulkInfoItem(BaseModel):
    info: ContainerInfo | None = None
    error: str | None = None


class StopRequest(_Body):
    timeout_s: float | None = Field(default=None, gt=0, le=3600)


class NetInRequest(_Body):
    host_port: int = Field(default=0, ge=0, le=65535)
    container_port: int = Field(ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    host_ip: HostAddress = None  # one host address (IPv4); None or 0.0.0.0: every address


class PropertiesPatch(_Body):
    """Values set the key; null removes it."""

    properties: dict[str, str | None] = Field(max_length=256)


class GroupRequest(_Body):
    name: str = Field(min_length=1, max_length=63)
    rules: list[EgressRule] = Field(max_length=100_000)


class GroupRules(_Body):
    rules: list[EgressRule] = Field(max_length=100_000)


class BindingRequest(_Body):
    container: str | None = Field(default=None, pattern=HANDLE_PATTERN)
    default: bool = False


class GroupSummary(BaseModel):
    name: str
    rules: int
    default: bool
    containers: list[str]


class ImportRequest(_Body):
    path: str = Field(min_length=1, max_length=4096)
    name: str | None = Field(default=None, max_length=255)
    keep_setuid: bool = False


class BuildBaseRequest(_Body):
    name: str = Field(default="base", max_length=255)


class EventOut(BaseModel):
    seq: int
    time: float
    handle: str
    kind: str
    detail: str


class TopRow(BaseModel):
    """One process of a container (`stockade top`): pid and uid as the container sees
    them, the host pid beside."""

    pid: int
    host_pid: int
    uid: int
    state: str
    rss_bytes: int
    command: str


class Ping(BaseModel):
    ok: bool = True
    version: str


class VerifyRequest(_Body):
    handle: str | None = Field(default=None, pattern=HANDLE_PATTERN)
    strict: bool = False

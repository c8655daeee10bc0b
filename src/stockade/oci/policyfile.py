"""The node's policy file (/etc/stockade/oci-policy.toml): defaults and named exceptions."""

import fnmatch
import posixpath
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from stockade.errors import InvalidSpec
from stockade.spec.container import DEFAULT_MEMORY, DEFAULT_PIDS, KNOWN_CAPABILITIES
from stockade.spec.sizes import parse_size

DEFAULT_PATH = Path("/etc/stockade/oci-policy.toml")
DEFAULT_LOG = "/var/log/stockade/oci.jsonl"
# Foreign containers get their own host range, apart from stockade's own (1,000,000+).
DEFAULT_ID_BASE = 2_000_000
ID_RANGE = 65536

Namespace = Literal["pid", "ipc", "uts", "mount", "cgroup", "network"]
HookKind = Literal["prestart", "createRuntime", "createContainer", "startContainer",
                   "poststart", "poststop"]


def _capability(text: object) -> object:
    if not isinstance(text, str):
        return text
    upper = text.upper()
    name = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if name not in KNOWN_CAPABILITIES:
        raise ValueError(f"unknown capability {text!r}")
    return name


Capability = Annotated[str, BeforeValidator(_capability)]
def _host_path(text: object) -> object:
    if not isinstance(text, str):
        return text
    if not text.startswith("/"):
        raise ValueError(f"host path {text!r} is not absolute")
    return posixpath.normpath(text).replace("//", "/")


HostPath = Annotated[str, BeforeValidator(_host_path)]
Size = Annotated[int, BeforeValidator(lambda v: parse_size(v) if isinstance(v, str | int) else v)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Allowance(_Model):
    """A named workload that may keep some of what the default policy takes away.

    It applies to a bundle whose container id matches one of `ids` (shell patterns) and
    whose annotations match every entry of `annotations` (values are shell patterns).
    """

    name: str = Field(min_length=1)
    ids: tuple[str, ...] = ()
    annotations: dict[str, str] = {}
    privileged: bool = False  # leave the bundle exactly as it is
    capabilities: tuple[Capability, ...] = ()  # kept when the bundle asks for them
    keep_seccomp: bool = False  # the bundle's own seccomp profile, or none
    no_userns: bool = False  # no user namespace is added
    host_namespaces: tuple[Namespace, ...] = ()  # may stay shared with the host
    # Sensitive host paths (and what is beneath them) the workload may bind.
    host_paths: tuple[HostPath, ...] = ()
    hooks: tuple[HookKind, ...] = ()  # OCI hook kinds the bundle may keep
    keep_apparmor: bool = False  # the bundle's AppArmor profile, even unconfined
    keep_selinux: bool = False  # the bundle's SELinux process and mount labels

    @model_validator(mode="after")
    def _must_name_a_workload(self) -> "Allowance":
        if not self.ids and not self.annotations:
            raise ValueError(f"exception {self.name!r} matches every container: give ids "
                             "or annotations")
        return self

    def matches(self, container_id: str, annotations: dict[str, str]) -> bool:
        if self.ids and not any(fnmatch.fnmatchcase(container_id, p) for p in self.ids):
            return False
        return all(key in annotations and fnmatch.fnmatchcase(annotations[key], pattern)
                   for key, pattern in self.annotations.items())


class OciPolicy(_Model):
    """What stockade-oci enforces on every bundle; every field has a secure default."""

    memory: Size = DEFAULT_MEMORY  # when the bundle sets no memory limit
    pids: int = Field(default=DEFAULT_PIDS, ge=1)  # when the bundle sets no pids limit
    id_base: int = Field(default=DEFAULT_ID_BASE, ge=ID_RANGE, le=(1 << 32) - ID_RANGE - 2)
    # The lowest host id a bundle's own user namespace may map container ids to.
    min_host_id: int = Field(default=ID_RANGE, ge=1)
    # The highest host id any user namespace of a container may map to.
    max_host_id: int = Field(default=(1 << 32) - 2, ge=1, le=(1 << 32) - 2)
    privileged: Literal["harden", "refuse"] = "harden"
    # A root-owned rootfs that cannot be shifted with an idmapped mount: refuse it, or
    # run with its files owned by `nobody` inside.
    unshifted_rootfs: Literal["refuse", "nobody"] = "refuse"
    log: str = DEFAULT_LOG
    exceptions: tuple[Allowance, ...] = Field(default=(), alias="exception")

    @model_validator(mode="after")
    def _range_is_not_empty(self) -> "OciPolicy":
        if self.max_host_id < self.min_host_id:
            raise ValueError(f"max_host_id {self.max_host_id} is below min_host_id "
                             f"{self.min_host_id}")
        return self

    def allowance_for(self, container_id: str, annotations: dict[str, str]) -> Allowance | None:
        """The first exception naming this container, if any."""
        for allowance in self.exceptions:
            if allowance.matches(container_id, annotations):
                return allowance
        return None


def load_policy(path: Path) -> OciPolicy:
    """The policy in `path`; the secure defaults when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return OciPolicy()
    except OSError as err:
        raise InvalidSpec(f"cannot read the policy file {path}: {err.strerror}") from err
    try:
        return OciPolicy.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValueError) as err:
        raise InvalidSpec(f"invalid policy file {path}: {err}") from err

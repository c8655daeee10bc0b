"""What the host kernel and tools offer, as one immutable value."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

# Landlock's TCP bind and connect rules arrived with ABI 4 (Linux 6.7).
LANDLOCK_NETWORK_ABI = 4
# The runc fix a host must carry (policy/runtime.py); the probe looks for it in the package's
# changelog, since distributions backport it without a new upstream version.
RUNC_REQUIRED_FIX = "CVE-2024-21626"


class Mechanism(BaseModel):
    """One kernel facility: whether it is usable and, either way, why."""

    model_config = ConfigDict(frozen=True)

    available: bool
    detail: str


class HostFeatures(BaseModel):
    """Read once per process by `stockade.host.probe`; policy decides from it."""

    model_config = ConfigDict(frozen=True)

    kernel: str
    arch: str
    cpus: int
    memory_bytes: int
    user_namespaces: Mechanism
    cgroup_version: Literal[1, 2]
    cgroup_controllers: tuple[str, ...]
    seccomp: Mechanism
    apparmor: Mechanism
    landlock_abi: int
    landlock: Mechanism
    overlayfs: Mechanism
    runc: Mechanism
    runc_version: str | None
    nofile_hard: int
    runc_package: str | None = None  # "runc 1.1.5+ds1-1+deb12u1" when dpkg owns the binary
    runc_backports: tuple[str, ...] = ()  # required fixes its package changelog names

    def has_controller(self, name: str) -> bool:
        return name in self.cgroup_controllers

    @property
    def landlock_network(self) -> bool:
        return self.landlock.available and self.landlock_abi >= LANDLOCK_NETWORK_ABI

    @property
    def mac(self) -> str:
        """The mandatory-access-control layer stockade will use."""
        if self.apparmor.available:
            return "apparmor"
        return "landlock" if self.landlock.available else "none"

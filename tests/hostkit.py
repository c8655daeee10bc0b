"""A HostFeatures value for pure tests: this VM's kernel, changed where a test says."""

from typing import Any

from stockade.host import HostFeatures, Mechanism

YES = Mechanism(available=True, detail="test")
NO = Mechanism(available=False, detail="AppArmor is not in this kernel")


def make_host(**changes: Any) -> HostFeatures:
    base: dict[str, Any] = dict(
        kernel="6.18", arch="x86_64", cpus=2, memory_bytes=1 << 34, user_namespaces=YES,
        cgroup_version=1, cgroup_controllers=("cpu", "memory", "pids", "devices"), seccomp=YES,
        apparmor=NO, landlock_abi=7, landlock=YES, overlayfs=YES, runc=YES,
        runc_version="1.1.5", nofile_hard=20000)
    return HostFeatures(**{**base, **changes})

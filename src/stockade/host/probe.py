"""Probe the running kernel for the facilities stockade builds on."""

import ctypes
import gzip
import os
import platform
import re
import resource
import shutil
import subprocess
from pathlib import Path

from stockade.host.features import (
    LANDLOCK_NETWORK_ABI,
    RUNC_REQUIRED_FIX,
    HostFeatures,
    Mechanism,
)

_SYS_LANDLOCK_CREATE_RULESET = {"x86_64": 444, "aarch64": 444}
_LANDLOCK_CREATE_RULESET_VERSION = 1
_V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def probe_user_namespaces() -> Mechanism:
    limit = _read("/proc/sys/user/max_user_namespaces")
    if not os.path.exists("/proc/self/ns/user"):
        return Mechanism(available=False, detail="kernel built without user namespaces")
    if limit is not None and int(limit) == 0:
        return Mechanism(available=False, detail="user.max_user_namespaces is 0")
    return Mechanism(available=True, detail=f"max_user_namespaces={(limit or '?').strip()}")


def probe_cgroups(root: str = "/sys/fs/cgroup") -> tuple[int, tuple[str, ...]]:
    """(version, usable controllers); a v2 mount with no controllers does not count."""
    unified = _read(f"{root}/cgroup.controllers")
    if unified is not None:
        return 2, tuple(sorted(unified.split()))
    found = tuple(c for c in _V1_CONTROLLERS if os.path.isdir(f"{root}/{c}/"))
    return 1, found


def probe_seccomp() -> Mechanism:
    status = _read("/proc/self/status") or ""
    if "Seccomp:" not in status:
        return Mechanism(available=False, detail="kernel built without seccomp")
    actions = _read("/proc/sys/kernel/seccomp/actions_avail")
    detail = f"filter mode; actions: {actions.strip()}" if actions else "filter mode"
    return Mechanism(available=True, detail=detail)


def probe_apparmor() -> Mechanism:
    enabled = _read("/sys/module/apparmor/parameters/enabled")
    if enabled is None:
        return Mechanism(available=False, detail="AppArmor is not in this kernel")
    if enabled.strip() != "Y":
        return Mechanism(available=False, detail="AppArmor is built in but disabled at boot")
    if shutil.which("apparmor_parser") is None:
        return Mechanism(available=False, detail="AppArmor enabled but apparmor_parser missing")
    return Mechanism(available=True, detail="enabled")


def probe_landlock_abi() -> int:
    """Landlock ABI version (0 when absent) from landlock_create_ruleset's version query."""
    number = _SYS_LANDLOCK_CREATE_RULESET.get(platform.machine())
    if number is None:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    abi = int(libc.syscall(number, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION))
    return max(abi, 0)


def probe_overlayfs() -> Mechanism:
    filesystems = _read("/proc/filesystems") or ""
    if re.search(r"\boverlay$", filesystems, re.MULTILINE):
        return Mechanism(available=True, detail="overlay filesystem registered")
    return Mechanism(available=False, detail="overlay not in /proc/filesystems")


def probe_runc() -> tuple[Mechanism, str | None]:
    path = shutil.which("runc")
    if path is None:
        return Mechanism(available=False, detail="runc not found on PATH"), None
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"runc version (\S+)", out.stdout)
    version = match.group(1) if match else None
    return Mechanism(available=out.returncode == 0, detail=path), version


def probe_runc_package(binary: str) -> tuple[str | None, tuple[str, ...]]:
    """The dpkg package that owns `binary` ("runc 1.1.5+ds1-1+deb12u1") and whether its
    changelog names the fix Stockade requires; (None, ()) where dpkg does not know it."""
    dpkg = shutil.which("dpkg-query")
    if dpkg is None:
        return None, ()
    owner = subprocess.run([dpkg, "-S", os.path.realpath(binary)], capture_output=True,
                           text=True, check=False)
    name = owner.stdout.partition(":")[0].strip()
    if owner.returncode != 0 or not re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", name):
        return None, ()
    shown = subprocess.run([dpkg, "-W", "-f", "${Version}", name], capture_output=True,
                           text=True, check=False)
    if shown.returncode != 0 or not shown.stdout.strip():
        return None, ()
    try:
        with gzip.open(f"/usr/share/doc/{name}/changelog.Debian.gz", "rt",
                       errors="replace") as changelog:
            named = RUNC_REQUIRED_FIX in changelog.read()
    except OSError:
        named = False
    return f"{name} {shown.stdout.strip()}", (RUNC_REQUIRED_FIX,) if named else ()


def landlock_detail(abi: int) -> str:
    if abi == 0:
        return "landlock_create_ruleset unavailable"
    if abi >= LANDLOCK_NETWORK_ABI:
        return f"ABI {abi}: filesystem rules and TCP bind/connect rules"
    return (f"ABI {abi}: filesystem rules only; TCP bind/connect rules need ABI "
            f"{LANDLOCK_NETWORK_ABI} (Linux 6.7)")


def probe() -> HostFeatures:
    """Read every feature once; callers keep the value."""
    version, controllers = probe_cgroups()
    runc, runc_version = probe_runc()
    runc_package, runc_backports = (probe_runc_package(runc.detail) if runc.available
                                    else (None, ()))
    abi = probe_landlock_abi()
    landlock = Mechanism(available=abi > 0, detail=landlock_detail(abi))
    return HostFeatures(
        kernel=platform.release(),
        arch=platform.machine(),
        cpus=os.cpu_count() or 1,
        memory_bytes=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        user_namespaces=probe_user_namespaces(),
        cgroup_version=2 if version == 2 else 1,
        cgroup_controllers=controllers,
        seccomp=probe_seccomp(),
        apparmor=probe_apparmor(),
        landlock_abi=abi,
        landlock=landlock,
        overlayfs=probe_overlayfs(),
        runc=runc,
        runc_version=runc_version,
        runc_package=runc_package,
        runc_backports=runc_backports,
        nofile_hard=resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    )

"""Read the host for the baseline (host/baseline.py judges what is read): sysctls under
/proc/sys, the key quota, the active LSMs, the lockdown mode, cgroups, the mounts holding
the state root and the image store, and conmon's version against its minimum. The engine
adds what belongs to other subsystems (runc's minimum, package findings) and calls `check`."""

import ctypes
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from stockade.host import baseline
from stockade.host.baseline import Item, Report
from stockade.host.probe import probe_cgroups, probe_landlock_abi

_SYS_LSM_LIST_MODULES = {"x86_64": 461, "aarch64": 461}


def read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def active_lsms() -> tuple[tuple[str, ...] | None, str]:
    """The kernel's active LSMs and where that came from: securityfs's lsm file when
    mounted, else lsm_list_modules(2) (Linux 6.8), else lsm= on the command line."""
    text = read("/sys/kernel/security/lsm")
    if text is not None:
        return tuple(n for n in text.strip().split(",") if n), "/sys/kernel/security/lsm"
    number = _SYS_LSM_LIST_MODULES.get(platform.machine())
    if number is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        ids = (ctypes.c_uint64 * 64)()
        size = ctypes.c_uint32(ctypes.sizeof(ids))
        count = int(libc.syscall(number, ids, ctypes.byref(size), 0))
        if count >= 0:
            return (baseline.lsm_names(ids[:count]),
                    "lsm_list_modules(2); securityfs is not mounted")
    cmdline = read("/proc/cmdline") or ""
    match = re.search(r"(?:^|\s)lsm=(\S+)", cmdline)
    if match:
        return tuple(match.group(1).split(",")), "lsm= on /proc/cmdline (the boot request)"
    return None, "securityfs not mounted, lsm_list_modules(2) unavailable, no lsm= at boot"


def lockdown_mode() -> str | None:
    """The lockdown file; where securityfs is not mounted, it is read through a mount in a
    private mount namespace, so the host's mounts stay as they were."""
    text = read("/sys/kernel/security/lockdown")
    if text is not None or not os.path.exists("/sys/kernel/security"):
        return text
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    done = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c",
         "mount -t securityfs securityfs /sys/kernel/security && "
         "cat /sys/kernel/security/lockdown"],
        capture_output=True, text=True, check=False, timeout=10)
    return done.stdout if done.returncode == 0 and done.stdout.strip() else None


def delegated_controllers(root: str = "/sys/fs/cgroup") -> tuple[str, ...] | None:
    text = read(f"{root}/cgroup.subtree_control")
    return None if text is None else tuple(sorted(text.split()))


CONMON_MINIMUM = "2.1.0"  # --full-attach, --log-size-max, --exec, the control fifo's reopen


def conmon_item() -> Item:
    """conmon monitors every container: it must be there, and new enough."""
    path = shutil.which("conmon")
    if path is None:
        return baseline.judge_tool("conmon", False, "conmon not installed: it monitors every "
                                   "container (install.sh installs the Debian package)")
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False,
                          timeout=10)
    match = re.search(r"conmon version (\S+)", done.stdout)
    if match is None:
        return baseline.judge_tool("conmon", False, f"{path} --version says no version")
    version = match.group(1)
    try:
        enough = Version(version) >= Version(CONMON_MINIMUM)
    except InvalidVersion:
        return baseline.judge_tool("conmon", False, f"conmon at {path} has version {version!r}, "
                                   "which cannot be compared")
    return baseline.judge_tool("conmon", enough, f"conmon {version} at {path}; the minimum is "
                               f"{CONMON_MINIMUM}")


@dataclass(frozen=True)
class Context:
    """What the engine knows that the host does not say."""

    root: Path
    images: Path
    containers: int
    id_base: int
    runc: Item
    packages: Item
    findings: tuple[dict[str, object], ...] = ()


def sysctl_items() -> list[Item]:
    return [baseline.judge_sysctl(rule, read(rule.path)) for rule in baseline.SYSCTLS]


def check(context: Context) -> Report:
    items = sysctl_items()
    text = read("/proc/key-users")
    # a uid that holds no key has no line
    held = (None if text is None
            else baseline.parse_key_users(text).get(context.id_base, (0, 0, 0))[0])
    items.append(baseline.judge_keys(
        baseline.parse_int(read("/proc/sys/kernel/keys/maxkeys")),
        baseline.parse_int(read("/proc/sys/kernel/keys/maxbytes")),
        context.containers, held, context.id_base))
    lsms, source = active_lsms()
    items += baseline.judge_lsms(lsms, source, lockdown_mode(), probe_landlock_abi())
    version, controllers = probe_cgroups()
    items += baseline.judge_cgroups(version, controllers,
                                    delegated_controllers() if version == 2 else None)
    mountinfo = read("/proc/self/mountinfo") or ""
    for label, path in (("state_root", context.root), ("image_store", context.images)):
        resolved = os.path.realpath(path)
        items.append(baseline.judge_mount(label, resolved,
                                          baseline.mount_of(mountinfo, resolved)))
    items += [context.runc, conmon_item(), context.packages]
    return Report(items, [dict(f) for f in context.findings])

"""vm.memfd_noexec=2 in a container's pid namespace: anonymous memory files are created
sealed against execution and MFD_EXEC is refused (Linux 6.3+).

The setting belongs to a pid namespace and is read from the writer's own, so it is written
by a process that joined the container's pid namespace (nsenter forks after setns) while
holding CAP_SYS_ADMIN over it (the host's root). runc 1.1 will not set it: it accepts only
sysctls it knows to be namespaced. Children namespaces cannot lower it."""

import os
import shutil
import subprocess

from stockade.errors import HostUnsupported

SYSCTL = "/proc/sys/vm/memfd_noexec"
ENFORCED = "2"


def available() -> bool:
    return os.path.exists(SYSCTL)


def enforce(pid: int) -> None:
    """Set it for the pid namespace of `pid` (the container's init, before it starts)."""
    if not available():
        return  # kernels before 6.3: the seccomp filter refuses MFD_EXEC alone
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise HostUnsupported("nsenter (util-linux) is needed to set vm.memfd_noexec")
    done = subprocess.run([nsenter, "-t", str(pid), "-p", "--", "/bin/sh", "-c",
                           f"echo {ENFORCED} > {SYSCTL}"], capture_output=True, text=True,
                          check=False, timeout=30)
    if done.returncode != 0:
        raise HostUnsupported(f"could not set vm.memfd_noexec in the container's pid "
                              f"namespace: {done.stderr.strip() or done.returncode}")

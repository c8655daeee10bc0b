"""The oldest runc Stockade drives: the release that fixed CVE-2024-21626, or a distribution
package whose changelog records the backported fix.

runc 1.1.12 closed CVE-2024-21626 (file descriptors leaked into the container's init, so a
working directory of /proc/self/fd/N started the container in a host directory). Debian
backports such fixes without changing the upstream version: bookworm's runc says 1.1.5 and
its package 1.1.5+ds1-1+deb12u1 carries the fix. The upstream version alone would refuse
that package and accept nothing more, so a version below the minimum is accepted only when
the installed package's own changelog names the CVE (the host probe reads it). Pure."""

import re

from packaging.version import InvalidVersion, Version

from stockade.host import HostFeatures, Mechanism
from stockade.host.features import RUNC_REQUIRED_FIX

RUNC_MINIMUM = "1.1.12"
_LEADING = re.compile(r"\d+(?:\.\d+)*")


def upstream_version(text: str) -> Version | None:
    """The release part of what `runc --version` prints (1.1.5+ds1 -> 1.1.5)."""
    match = _LEADING.match(text)
    try:
        return Version(match.group(0)) if match else None
    except InvalidVersion:
        return None


def runc_minimum(host: HostFeatures) -> Mechanism:
    """Whether this host's runc carries the fix, and why (shown by `stockade info`)."""
    if host.runc_version is None:
        return Mechanism(available=False, detail="runc's version could not be read; Stockade "
                         f"needs runc {RUNC_MINIMUM} or later ({RUNC_REQUIRED_FIX})")
    found = upstream_version(host.runc_version)
    if found is not None and found >= Version(RUNC_MINIMUM):
        return Mechanism(available=True, detail=f"runc {host.runc_version} >= {RUNC_MINIMUM} "
                         f"(fixes {RUNC_REQUIRED_FIX})")
    if host.runc_package and RUNC_REQUIRED_FIX in host.runc_backports:
        return Mechanism(available=True, detail=f"runc {host.runc_version} is below "
                         f"{RUNC_MINIMUM}, but package {host.runc_package} backports "
                         f"{RUNC_REQUIRED_FIX} (named in its changelog)")
    return Mechanism(available=False, detail=f"runc {host.runc_version} is older than "
                     f"{RUNC_MINIMUM}, the first release to fix {RUNC_REQUIRED_FIX} (container "
                     "breakout through leaked file descriptors), and no installed package "
                     f"records a backport; install runc {RUNC_MINIMUM} or later")

"""The host baseline as the engine sees it: host/hostcheck.py reads the node, and the engine
adds what other subsystems know (runc's minimum from policy/runtime.py, the host's dpkg
packages matched against the offline vulnerability database)."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockade.host import HostFeatures, baseline, hostcheck
from stockade.host.baseline import Item, Report
from stockade.images import vulndb
from stockade.policy import runtime as runtime_policy

if TYPE_CHECKING:
    from stockade.engine.layout import Layout

NO_DATABASE = ("not applicable: no vulnerability database loaded "
               "(stockade vulndb update --from FILE)")


def runc_item(host: HostFeatures) -> Item:
    found = runtime_policy.runc_minimum(host)
    version = host.runc_version or "unknown"
    return Item("tool.runc", "tools", "pass" if found.available else "fail",
                f"runc {version}" + (f" (package {host.runc_package})"
                                     if host.runc_package else ""), found.detail)


def package_findings(database: Path, dpkg_root: Path = Path("/")
                     ) -> tuple[list[dict[str, Any]] | None, int, str]:
    """(findings or None when nothing can be matched, packages installed, why none)."""
    try:
        packages = vulndb.read_dpkg_status(dpkg_root)
    except OSError:
        return None, 0, "not applicable: no dpkg status on this host"
    if not database.exists() or vulndb.VulnDB(database).status() is None:
        return None, len(packages), NO_DATABASE
    release = vulndb.debian_release(dpkg_root)
    if release is None:
        return None, len(packages), "not applicable: not a numbered Debian release"
    found = vulndb.VulnDB(database).match_dpkg(packages, release)
    return ([{"id": f.id, "package": f.package, "source": f.source, "installed": f.installed,
              "fixed": f.fixed, "severity": f.severity, "summary": f.summary}
             for f in found], len(packages), "")


def check(host: HostFeatures, layout: "Layout", id_base: int, containers: int) -> Report:
    findings, count, why = package_findings(layout.vulndb)
    return hostcheck.check(hostcheck.Context(
        root=layout.root, images=layout.images, containers=containers, id_base=id_base,
        runc=runc_item(host), packages=baseline.judge_packages(findings, count, why),
        findings=tuple(findings or ())))

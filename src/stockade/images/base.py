"""The hardened base root filesystem: Debian minbase, stripped, with a vcap user."""

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

from stockade.errors import HostUnsupported, ImageError
from stockade.images.model import ImageConfig, Package
from stockade.images.progress import Progress

VCAP_ID = 2000
DEFAULT_NAME = "base"
CONFIG = ImageConfig(
    env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
         "HOME=/home/vcap"),
    cmd=("bash",), working_dir="/home/vcap",
)
# Removed after the install: caches, package lists, documentation, logs of the build.
# /dev goes too: every container gets a fresh, minimal /dev from the runtime.
_PRUNE = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
          "usr/share/info", "usr/share/lintian", "usr/share/linda", "var/cache/debconf/*-old",
          "var/log", "tmp", "var/tmp", "dev")
_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
_DEBOOTSTRAP_TIMEOUT_S = 1800


def debian_mirror() -> tuple[str, str]:
    """(mirror URL, suite) that this machine's apt uses for Debian's main archive."""
    for text in _source_texts():
        for uri, suite in _entries(text):
            if "debian" in uri and "security" not in uri and not suite.endswith(
                    ("-updates", "-security", "-backports")):
                return uri, suite
    raise HostUnsupported("no Debian mirror found in /etc/apt/sources.list*; "
                          "build-base needs one")


def _source_texts() -> Iterator[str]:
    for path in _SOURCES:
        files = sorted(path.glob("*.sources")) + sorted(path.glob("*.list")) \
            if path.is_dir() else [path]
        for item in files:
            if item.is_file():
                yield item.read_text(errors="replace")


def _entries(text: str) -> Iterator[tuple[str, str]]:
    """Both the one-line format ('deb URL SUITE ...') and deb822 stanzas."""
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 3 and fields[0] == "deb":
            rest = [f for f in fields[1:] if not f.startswith("[")]
            yield rest[0], rest[1]
    for stanza in re.split(r"\n\s*\n", text):
        keys = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE))
        if keys.get("Types", "").split()[:1] == ["deb"] and keys.get("Enabled", "yes") != "no":
            for uri in keys.get("URIs", "").split():
                for suite in keys.get("Suites", "").split():
                    yield uri, suite


def debootstrap(target: Path, progress: Progress) -> None:
    """Run debootstrap minbase into `target`, relaying its steps as progress messages."""
    if shutil.which("debootstrap") is None:
        raise HostUnsupported("debootstrap is not installed: apt-get install debootstrap")
    mirror, suite = debian_mirror()
    progress.message(f"debootstrap --variant=minbase {suite} from {mirror}")
    command = ["debootstrap", "--variant=minbase", "--merged-usr", suite, str(target), mirror]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env={**os.environ, "LC_ALL": "C"}) as proc:
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            tail = [*tail[-20:], line.rstrip()]
            if line.startswith(("I: Retrieving", "I: Extracting", "I: Installing",
                                "I: Configuring", "I: Unpacking", "I: Base system")):
                progress.message(line[3:].strip())
        code = proc.wait(timeout=_DEBOOTSTRAP_TIMEOUT_S)
    if code != 0:
        raise ImageError("debootstrap failed:\n" + "\n".join(tail))


def harden(rootfs: Path, progress: Progress) -> list[str]:
    """Strip setuid/setgid, prune caches and docs, add vcap; the stripped paths."""
    progress.message("hardening: removing setuid/setgid bits, caches and documentation")
    stripped = strip_setuid(rootfs)
    for pattern in _PRUNE:
        for path in rootfs.glob(pattern):
            _empty(path)
    add_vcap(rootfs)
    return stripped


def strip_setuid(rootfs: Path) -> list[str]:
    stripped = []
    for dirpath, _, filenames in os.walk(rootfs):
        for name in filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:
                path.chmod(stat.S_IMODE(st.st_mode) & ~0o6000)
                stripped.append("/" + str(path.relative_to(rootfs)))
    return stripped


def _empty(path: Path) -> None:
    """Keep the directory (packages expect it) but drop what is inside."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def add_vcap(rootfs: Path) -> None:
    """The unprivileged application user every container runs as by default."""
    _append_line(rootfs / "etc/passwd", f"vcap:x:{VCAP_ID}:{VCAP_ID}:vcap:/home/vcap:/bin/bash",
                 "vcap:")
    _append_line(rootfs / "etc/group", f"vcap:x:{VCAP_ID}:", "vcap:")
    _append_line(rootfs / "etc/shadow", "vcap:!:19000:0:99999:7:::", "vcap:")
    _append_line(rootfs / "etc/gshadow", "vcap:!::", "vcap:")
    home = rootfs / "home/vcap"
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    os.chown(home, VCAP_ID, VCAP_ID)


def _append_line(path: Path, line: str, prefix: str) -> None:
    if not path.exists():
        return
    text = path.read_text()
    if any(row.startswith(prefix) for row in text.splitlines()):
        return
    path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + line + "\n")


def packages(rootfs: Path) -> tuple[Package, ...]:
    """Installed packages and versions, read from the tree's own dpkg database."""
    status = rootfs / "var/lib/dpkg/status"
    if not status.exists():
        raise ImageError("the built tree has no dpkg status file")
    found = []
    for stanza in status.read_text(errors="replace").split("\n\n"):
        keys = dict(re.findall(r"^([A-Za-z-]+): (.*)$", stanza, re.MULTILINE))
        if keys.get("Package") and "installed" in keys.get("Status", "").split()[-1:]:
            found.append(Package(name=keys["Package"], version=keys.get("Version", ""),
                                 architecture=keys.get("Architecture", "")))
    return tuple(sorted(found, key=lambda p: p.name))

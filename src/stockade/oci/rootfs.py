"""Give a root-owned rootfs to a container whose root is an unprivileged host id.

Two shapes of rootfs reach a runtime:
* a mount point (containerd's overlay or bind snapshot at <bundle>/rootfs): replaced in
  place by an equivalent idmapped mount, so the orchestrator's own unmount removes it;
  an overlay cannot itself be idmapped, so it is rebuilt over idmapped lower layers
  with its own upper and work directories.
* a plain directory (podman --rootfs, runc run): an idmapped view is mounted under
  /run/stockade-oci for `runc create` and detached right after it; the container's mount
  namespace keeps its copy.
"""

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from stockade.oci import idmap
from stockade.oci.harden import UsernsPlan

STAGING = Path("/run/stockade-oci")


class RootfsError(Exception):
    """The rootfs cannot be shown shifted; the policy decides what happens then."""


@dataclass(frozen=True)
class MountEntry:
    mount_point: str
    fstype: str
    source: str
    super_options: str


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def mount_at(path: str, mountinfo: str) -> MountEntry | None:
    """The topmost mount whose mount point is exactly `path`."""
    found = None
    for line in mountinfo.splitlines():
        fields, _, tail = line.partition(" - ")
        parts, rest = fields.split(), tail.split()
        if len(parts) >= 5 and len(rest) >= 3 and _unescape(parts[4]) == path:
            found = MountEntry(path, rest[0], _unescape(rest[1]), _unescape(rest[2]))
    return found


def overlay_layers(options: str) -> tuple[list[str], str, str, list[str]] | None:
    """(lower dirs top first, upper, work, other options); None when not absolute paths."""
    lower: list[str] = []
    upper = work = ""
    other: list[str] = []
    for option in options.split(","):
        key, _, value = option.partition("=")
        if key == "lowerdir":
            lower += value.replace("\\:", "\0").split(":")
        elif key == "lowerdir+":
            lower.append(value)
        elif key == "upperdir":
            upper = value
        elif key == "workdir":
            work = value
        elif key not in ("rw", "ro"):
            other.append(option)
    lower = [p.replace("\0", ":") for p in lower]
    if not lower or not all(p.startswith("/") for p in [*lower, upper or "/", work or "/"]):
        return None
    return lower, upper, work, other


class ShiftedRootfs:
    """Prepares the shifted view before `runc create` and tidies up after it."""

    def __init__(self, rootfs: str, plan: UsernsPlan) -> None:
        self.rootfs = rootfs
        self.plan = plan
        self.staging: Path | None = None  # our own directory under /run/stockade-oci
        self.temporary: str | None = None  # a mount runc needs only until create returns

    def prepare(self) -> str:
        """Mount the shifted view; returns the path runc should use as root.path."""
        entry = mount_at(self.rootfs, Path("/proc/self/mountinfo").read_text())
        userns = idmap.userns_fd(self.plan.uid_map, self.plan.gid_map)
        try:
            if entry is None:
                return self._temporary_view(userns)
            if entry.fstype == "overlay":
                self._replace_overlay(entry, userns)
            else:
                self._replace_mount(userns)
            return self.rootfs
        finally:
            os.close(userns)

    def _new_staging(self) -> Path:
        STAGING.mkdir(mode=0o711, exist_ok=True)
        STAGING.chmod(0o711)  # the container's root must be able to pass through
        self.staging = STAGING / secrets.token_hex(8)
        self.staging.mkdir(mode=0o711)
        return self.staging

    def _temporary_view(self, userns: int) -> str:
        target = self._new_staging() / "rootfs"
        target.mkdir(mode=0o755)
        idmap.attach(idmap.idmapped_clone(self.rootfs, userns), str(target))
        self.temporary = str(target)
        return self.temporary

    def _replace_mount(self, userns: int) -> None:
        tree = idmap.idmapped_clone(self.rootfs, userns)
        try:
            idmap.unmount(self.rootfs)
        except OSError:
            os.close(tree)
            raise
        idmap.attach(tree, self.rootfs)

    def _replace_overlay(self, entry: MountEntry, userns: int) -> None:
        layers = overlay_layers(entry.super_options)
        if layers is None:
            raise RootfsError(f"cannot read the overlay layers of {self.rootfs}")
        lower, upper, work, other = layers
        staging = self._new_staging()
        shifted = []
        try:
            for index, layer in enumerate(lower):
                target = staging / f"l{index}"
                target.mkdir()
                idmap.attach(idmap.idmapped_clone(layer, userns), str(target))
                shifted.append(str(target))
            options = [f"lowerdir={':'.join(shifted)}"]
            if upper:
                self._own_upper(upper)
                options += [f"upperdir={upper}", f"workdir={work}"]
            idmap.unmount(self.rootfs)
            try:
                idmap.mount("overlay", self.rootfs, "overlay", ",".join([*options, *other]))
            except OSError:
                # Put the orchestrator's mount back as it was, then report.
                idmap.mount(entry.source, self.rootfs, "overlay", entry.super_options)
                raise
            idmap.make_private(self.rootfs)
        finally:
            # The overlay holds private copies of its layers; the staging mounts can go.
            for layer_view in shifted:
                idmap.detach(layer_view)
            self._remove_staging()

    def _own_upper(self, upper: str) -> None:
        """Root inside must own "/": give the (fresh) upper directory to the mapped root."""
        info = os.stat(upper)
        if (info.st_uid, info.st_gid) == (0, 0):
            os.chown(upper, self.plan.uid_map[0][1], self.plan.gid_map[0][1])

    def after_create(self) -> None:
        """runc has pivoted into its own copy of the view: the host's copy can go."""
        if self.temporary is not None:
            idmap.detach(self.temporary)
            self.temporary = None
        self._remove_staging()

    def _remove_staging(self) -> None:
        """rmdir only, never a recursive delete: a mount still there must not be emptied."""
        if self.staging is None:
            return
        for child in self.staging.iterdir():
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            self.staging.rmdir()
        self.staging = None


def reachable(path: str, uid: int, gid: int) -> list[str]:
    """Directories above `path` that host user uid:gid cannot search."""
    blocked = []
    current = Path(path).parent
    while True:
        info = current.stat()
        if info.st_uid == uid:
            ok = bool(info.st_mode & 0o100)
        elif info.st_gid == gid:
            ok = bool(info.st_mode & 0o010)
        else:
            ok = bool(info.st_mode & 0o001)
        if not ok:
            blocked.append(str(current))
        if current == current.parent:
            return blocked
        current = current.parent

"""Turn a stream of tar entries into a layer directory without trusting the archive.

Every path is checked lexically (paths.py) and then created with *at calls relative
to a directory opened by openat2 with every kind of link resolution forbidden, so no
symlink or '..' planted by an earlier entry can redirect a later one outside the layer.
OCI whiteouts become overlay whiteouts so overlay shows the image's final tree."""

import contextlib
import errno
import os
import posixpath
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stockade.errors import ImageError
from stockade.images import paths
from stockade.images.limits import UnpackLimits
from stockade.images.safepath import STRICT
from stockade.images.tarstream import (
    BLOCKDEV,
    CHAR,
    DIRECTORY,
    FIFO,
    HARDLINK,
    REGULAR,
    SYMLINK,
    Entry,
)
from stockade.linux.beneath import openat2

NOBODY = 65534
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY
_OPAQUE_XATTR = "trusted.overlay.opaque"


@dataclass(frozen=True)
class IdShift:
    """Container id N is stored as host id base + N; ids past the range become nobody."""

    base: int
    size: int

    def host(self, container_id: int) -> int:
        return self.base + (container_id if container_id < self.size else NOBODY)


@dataclass
class UnpackReport:
    """What the unpacker did beyond copying: the user may want to know."""

    entries: int = 0
    bytes_written: int = 0
    stripped_setuid: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class LayerUnpacker:
    """Applies entries to one fresh, empty layer directory; or, with `live`, to a directory
    of a running container's tree (`stockade cp`): there whiteouts are skipped, not made,
    and the archive's own root entry does not change the target directory."""

    def __init__(self, root: Path | int, ids: IdShift, keep_setuid: bool,
                 limits: UnpackLimits, on_bytes: Callable[[int], None] | None = None,
                 live: bool = False) -> None:
        """`root` is the directory, or a descriptor of it (which is duplicated)."""
        self._root_fd = os.dup(root) if isinstance(root, int) else \
            os.open(root, _DIR_FLAGS | os.O_NOFOLLOW | os.O_CLOEXEC)
        os.set_inheritable(self._root_fd, False)
        self._live = live
        self._ids = ids
        self._keep_setuid = keep_setuid
        self._limits = limits
        self._on_bytes = on_bytes
        self.report = UnpackReport()

    def close(self) -> None:
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def __enter__(self) -> "LayerUnpacker":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def apply(self, entry: Entry) -> None:
        """Create one entry; any failure is an ImageError naming the member."""
        self.report.entries += 1
        if self.report.entries > self._limits.max_entries:
            raise ImageError(f"layer has more than {self._limits.max_entries} entries")
        rel = paths.member_path(entry.name, self._limits)
        try:
            self._dispatch(rel, entry)
        except ImageError:
            raise
        except OSError as exc:
            raise ImageError(f"cannot unpack {entry.name!r}: {exc.strerror or exc}") from exc

    def _dispatch(self, rel: str, entry: Entry) -> None:
        if paths.is_aufs_metadata(rel):
            self.report.skipped.append(f"{rel} (aufs metadata)")
        elif rel == "":
            if not self._live:
                self._root_entry(entry)
        elif paths.is_whiteout(rel):
            if self._live:
                self.report.skipped.append(f"{rel} (a whiteout: only image layers have them)")
            else:
                self._whiteout(rel)
        elif entry.kind in (CHAR, BLOCKDEV):
            self.report.skipped.append(f"{rel} (device node)")
        elif entry.kind not in (REGULAR, DIRECTORY, SYMLINK, HARDLINK, FIFO):
            self.report.skipped.append(f"{rel} (unsupported tar type {entry.kind!r})")
        else:
            parent = self._open_dir(posixpath.dirname(rel), create=True)
            try:
                self._create(parent, posixpath.basename(rel), rel, entry)
            finally:
                os.close(parent)

    def _create(self, parent: int, leaf: str, rel: str, entry: Entry) -> None:
        if entry.kind == DIRECTORY:
            self._directory(parent, leaf, entry)
        elif entry.kind == REGULAR:
            self._replace(parent, leaf)
            self._regular(parent, leaf, rel, entry)
        elif entry.kind == SYMLINK:
            self._symlink(parent, leaf, rel, entry)
        elif entry.kind == HARDLINK:
            self._hardlink(parent, leaf, rel, entry)
        else:
            self._replace(parent, leaf)
            os.mkfifo(leaf, entry.mode & 0o777, dir_fd=parent)
            self._own(parent, leaf, entry)

    # -- directories ---------------------------------------------------------------------

    def _open_dir(self, directory: str, create: bool) -> int:
        """A directory of the layer, opened without following any link on the way."""
        if not directory:
            return os.dup(self._root_fd)
        try:
            return openat2(self._root_fd, directory, _DIR_FLAGS, STRICT)
        except FileNotFoundError:
            if not create:
                raise ImageError(f"{directory!r} does not exist in the layer") from None
            return self._make_dirs(directory)
        except OSError as exc:
            raise _resolution_error(directory, exc) from exc

    def _make_dirs(self, directory: str) -> int:
        """Archives may omit parent directories; create them as root-owned 0755."""
        fd = os.dup(self._root_fd)
        try:
            for part in directory.split("/"):
                made = False
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                    os.chown(part, self._ids.host(0), self._ids.host(0), dir_fd=fd,
                             follow_symlinks=False)
                    made = True
                try:
                    child = openat2(fd, part, _DIR_FLAGS, STRICT)
                except OSError as exc:
                    raise _resolution_error(directory, exc) from exc
                os.close(fd)
                fd = child
                if made:
                    os.fchmod(fd, 0o755)  # the daemon's umask (077) masked mkdir's mode
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _directory(self, parent: int, leaf: str, entry: Entry) -> None:
        if not self._is_dir(parent, leaf):
            self._replace(parent, leaf)
            os.mkdir(leaf, 0o700, dir_fd=parent)
        fd = openat2(parent, leaf, _DIR_FLAGS, STRICT)
        try:
            self._set_attributes(fd, entry, strip=False)
        finally:
            os.close(fd)

    def _root_entry(self, entry: Entry) -> None:
        if entry.kind != DIRECTORY:
            raise ImageError("archive replaces the layer root with a non-directory")
        self._set_attributes(self._root_fd, entry, strip=False)

    # -- files and links -------------------------------------------------------------------

    def _regular(self, parent: int, leaf: str, rel: str, entry: Entry) -> None:
        if entry.size > self._limits.max_file_bytes:
            raise ImageError(f"{rel!r} claims {entry.size} bytes, over the "
                             f"{self._limits.max_file_bytes}-byte limit for one file")
        if self.report.bytes_written + entry.size > self._limits.max_layer_bytes:
            raise ImageError(f"layer grows past the {self._limits.max_layer_bytes}-byte limit "
                             f"at {rel!r}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(leaf, flags, 0o600, dir_fd=parent)
        try:
            for chunk in entry.chunks():
                _write_all(fd, chunk)
                if self._on_bytes is not None:
                    self._on_bytes(len(chunk))
            self.report.bytes_written += entry.size
            self._set_attributes(fd, entry, strip=True, rel=rel)
            os.utime(fd, (entry.mtime, entry.mtime))
        finally:
            os.close(fd)

    def _symlink(self, parent: int, leaf: str, rel: str, entry: Entry) -> None:
        target = entry.linkname
        if not target or "\0" in target or len(target) > self._limits.max_path_bytes:
            raise ImageError(f"symlink {rel!r} has an empty or malformed target")
        if paths.symlink_escapes(rel, target):
            raise ImageError(f"symlink {rel!r} -> {target!r} points outside the layer")
        self._replace(parent, leaf)
        os.symlink(target, leaf, dir_fd=parent)
        self._own(parent, leaf, entry)
        os.utime(leaf, (entry.mtime, entry.mtime), dir_fd=parent, follow_symlinks=False)

    def _hardlink(self, parent: int, leaf: str, rel: str, entry: Entry) -> None:
        source = paths.member_path(entry.linkname, self._limits)
        if source in ("", rel):
            raise ImageError(f"hardlink {rel!r} -> {entry.linkname!r} points at itself or root")
        source_dir = self._open_dir(posixpath.dirname(source), create=False)
        try:
            name = posixpath.basename(source)
            try:
                st = os.stat(name, dir_fd=source_dir, follow_symlinks=False)
            except FileNotFoundError:
                raise ImageError(f"hardlink {rel!r} -> {source!r}: target is not in this "
                                 "layer") from None
            if stat.S_ISDIR(st.st_mode):
                raise ImageError(f"hardlink {rel!r} -> {source!r}: target is a directory")
            self._replace(parent, leaf)
            os.link(name, leaf, src_dir_fd=source_dir, dst_dir_fd=parent,
                    follow_symlinks=False)
        finally:
            os.close(source_dir)

    def _whiteout(self, rel: str) -> None:
        directory, hidden = paths.split_whiteout(rel)
        fd = self._open_dir(directory, create=True)
        try:
            if hidden is None:
                os.setxattr(fd, _OPAQUE_XATTR, b"y")
                return
            self._replace(fd, hidden)
            os.mknod(hidden, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=fd)
            os.chown(hidden, self._ids.host(0), self._ids.host(0), dir_fd=fd,
                     follow_symlinks=False)
        finally:
            os.close(fd)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _is_dir(parent: int, leaf: str) -> bool:
        try:
            return stat.S_ISDIR(os.stat(leaf, dir_fd=parent, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return False

    @staticmethod
    def _replace(parent: int, leaf: str) -> None:
        """Later members win over earlier ones with the same path, as in tar itself."""
        try:
            st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(leaf, dir_fd=parent)
        else:
            os.unlink(leaf, dir_fd=parent)

    def _own(self, parent: int, leaf: str, entry: Entry) -> None:
        os.chown(leaf, self._ids.host(entry.uid), self._ids.host(entry.gid), dir_fd=parent,
                 follow_symlinks=False)

    def _set_attributes(self, fd: int, entry: Entry, strip: bool, rel: str = "") -> None:
        """Owner first: chown clears setuid bits, so the mode must come after it."""
        os.fchown(fd, self._ids.host(entry.uid), self._ids.host(entry.gid))
        mode = entry.mode & 0o7777
        if strip and mode & 0o6000 and not self._keep_setuid:
            self.report.stripped_setuid.append(rel)
            mode &= ~0o6000
        os.fchmod(fd, mode)


def _resolution_error(directory: str, exc: OSError) -> ImageError:
    if exc.errno in (errno.ELOOP, errno.EXDEV):
        return ImageError(f"path {directory!r} goes through a symlink; refusing to write "
                          "through it")
    if exc.errno == errno.ENOTDIR:
        return ImageError(f"path {directory!r} goes through something that is not a directory")
    return ImageError(f"cannot open {directory!r} in the layer: {exc.strerror}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]

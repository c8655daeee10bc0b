"""Tar a directory tree that someone else may be changing, without ever leaving it.

The tree is walked by descriptors: each directory is listed through its own descriptor,
and each entry is opened relative to that with O_NOFOLLOW and checked to be the inode
lstat described. A symlink is stored as a link, never followed; a directory or file
swapped while we read makes the import fail rather than read whatever replaced it. The
unpacker then judges the archive like any other."""

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from stockade.errors import ImageError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_KINDS = {stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFREG: tarfile.REGTYPE,
          stat.S_IFLNK: tarfile.SYMTYPE, stat.S_IFCHR: tarfile.CHRTYPE,
          stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE}  # sockets are left out


def pack_path(source: Path, target: Path) -> None:
    """pack_tree for a tree of our own (embedded, base), named by path."""
    fd = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        pack_tree(fd, target)
    finally:
        os.close(fd)


def pack_tree(root_fd: int, target: Path) -> None:
    """Tar what the directory descriptor `root_fd` holds (not the directory itself), in
    sorted order, so the same tree always gives the same archive."""
    target.parent.mkdir(parents=True, exist_ok=True)
    top = os.open(".", _DIR_FLAGS, dir_fd=root_fd)
    stack: list[tuple[int, str, Iterator[str]]] = []
    try:
        stack.append((top, "", _listed(top)))
        links: dict[tuple[int, int], str] = {}
        with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as archive:
            while stack:
                dir_fd, prefix, names = stack[-1]
                name = next(names, None)
                if name is None:
                    os.close(stack.pop()[0])
                    continue
                child = _add(archive, dir_fd, name, prefix + name, links)
                if child is not None:
                    stack.append((child, f"{prefix}{name}/", _listed(child)))
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def _listed(dir_fd: int) -> Iterator[str]:
    """Names in sorted order, listed on first use (once the descriptor is on the stack,
    which closes it whatever happens)."""
    yield from sorted(os.listdir(dir_fd))


def _add(archive: tarfile.TarFile, dir_fd: int, name: str, arcname: str,
         links: dict[tuple[int, int], str]) -> int | None:
    """Add one entry; a directory's descriptor is returned for the caller to descend."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise _changed(arcname, exc) from None
    kind = _KINDS.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return None
    info = tarfile.TarInfo(arcname)
    info.type, info.mode, info.mtime = kind, stat.S_IMODE(st.st_mode), st.st_mtime
    info.uid, info.gid = st.st_uid, st.st_gid
    if kind == tarfile.SYMTYPE:
        try:  # a link's target is only text: whatever it names is never read
            info.linkname = os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            raise _changed(arcname, exc) from None
    elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif kind == tarfile.DIRTYPE:
        fd = _open_same(dir_fd, name, _DIR_FLAGS, st, arcname)
        try:
            archive.addfile(info)
        except BaseException:
            os.close(fd)
            raise
        return fd
    elif kind == tarfile.REGTYPE:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            info.type, info.linkname = tarfile.LNKTYPE, links[key]
        else:
            if st.st_nlink > 1:
                links[key] = arcname
            fd = _open_same(dir_fd, name, _FILE_FLAGS, st, arcname)
            with os.fdopen(fd, "rb") as handle:
                info.size = os.fstat(handle.fileno()).st_size
                archive.addfile(info, handle)
            return None
    archive.addfile(info)
    return None


def _open_same(dir_fd: int, name: str, flags: int, expected: os.stat_result,
               arcname: str) -> int:
    """Open `name` without following it, and only if it is still the inode we listed."""
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        raise _changed(arcname, exc) from None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (expected.st_dev, expected.st_ino):
        os.close(fd)
        raise _changed(arcname, None)
    return fd


def _changed(arcname: str, exc: OSError | None) -> ImageError:
    why = f": {exc.strerror}" if exc is not None else ""
    return ImageError(f"/{arcname} changed while it was being packed{why}; import it again "
                      "once it is still")

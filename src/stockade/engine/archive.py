"""A container's files in and out as tar streams (`stockade cp`, the archive routes).

Out: the path is opened beneath the container's root filesystem with every symlink refused
on the way (linux/beneath.py); a directory is walked by descriptor, never by path string, so
nothing the container plants can lead the walk outside its tree. Symlinks inside are
archived as links, not followed; device nodes and sockets are left out. Owners are written
as the container sees them (host id minus the container's base). The stream is written by
hand, one entry at a time, so a large file never sits in memory: tarfile's writer needs a
file object and would buffer a whole member before we could send it.

In: the archive is unpacked by the image unpacker (images/unpack.py) in its `live` mode:
the same path rules as image layers, ids shifted into the container's range, setuid bits
stripped, no whiteouts, no device nodes, each entry created relative to descriptors opened
without following links. Writes go through the overlay, so the disk quota holds them.
"""

import contextlib
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from stockade.errors import InvalidSpec
from stockade.images.limits import UnpackLimits
from stockade.images.tarstream import TarReader
from stockade.images.unpack import IdShift, LayerUnpacker, UnpackReport
from stockade.linux import beneath

_BLOCK = 512
_CHUNK = 1 << 16
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _relative(path: str) -> str:
    if not path.startswith("/") or "\0" in path:
        raise InvalidSpec(f"container path {path!r} must be absolute")
    return path.strip("/") or "."


def _open_dir(rootfs: Path, path: str) -> int:
    """A directory of the container's tree, reached without following any symlink."""
    root = os.open(rootfs, _DIR_FLAGS | os.O_NOFOLLOW)
    try:
        located = beneath.open_beneath(root, _relative(path), path, "the container")
    finally:
        os.close(root)
    try:
        if not stat.S_ISDIR(os.fstat(located).st_mode):
            raise InvalidSpec(f"{path} is not a directory in the container")
        return beneath.reopen(located, _DIR_FLAGS)
    finally:
        os.close(located)


def pack(rootfs: Path, path: str, id_base: int) -> Iterator[bytes]:
    """The tar stream of `path` (a file, a link or a whole directory), named by its last
    component as `docker cp` does. The path is opened now, so a bad one fails before any
    byte is sent."""
    root = os.open(rootfs, _DIR_FLAGS | os.O_NOFOLLOW)
    try:
        located = beneath.open_beneath(root, _relative(path), path, "the container")
    finally:
        os.close(root)
    return _stream(located, os.path.basename(path.rstrip("/")) or ".", id_base)


def _stream(located: int, name: str, id_base: int) -> Iterator[bytes]:
    try:
        yield from _entry(located, name, id_base)
    finally:
        os.close(located)
    yield b"\0" * (2 * _BLOCK)


def _entry(fd: int, name: str, id_base: int) -> Iterator[bytes]:
    """One O_PATH descriptor's entry, and a directory's contents after it."""
    info = os.fstat(fd)
    member = tarfile.TarInfo(name)
    member.mode = stat.S_IMODE(info.st_mode)
    member.uid, member.gid = max(0, info.st_uid - id_base), max(0, info.st_gid - id_base)
    member.mtime = int(info.st_mtime)
    if stat.S_ISLNK(info.st_mode):
        member.type = tarfile.SYMTYPE
        member.linkname = os.readlink("", dir_fd=fd)
        yield member.tobuf(tarfile.PAX_FORMAT)
    elif stat.S_ISREG(info.st_mode):
        member.size = info.st_size
        yield member.tobuf(tarfile.PAX_FORMAT)
        yield from _content(fd, info.st_size)
    elif stat.S_ISDIR(info.st_mode):
        member.type = tarfile.DIRTYPE
        yield member.tobuf(tarfile.PAX_FORMAT)
        directory = beneath.reopen(fd, _DIR_FLAGS)
        try:
            for child in sorted(os.listdir(directory)):
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                    child_fd = os.open(child, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
                                       dir_fd=directory)
                    try:
                        yield from _entry(child_fd, f"{name}/{child}", id_base)
                    finally:
                        os.close(child_fd)
        finally:
            os.close(directory)
    elif stat.S_ISFIFO(info.st_mode):
        member.type = tarfile.FIFOTYPE
        yield member.tobuf(tarfile.PAX_FORMAT)
    # device nodes and sockets: nothing a copy should carry


def _content(fd: int, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes (a file that shrank meanwhile is padded with zeros, one that
    grew is cut), then the padding to a whole block."""
    readable = beneath.reopen(fd, os.O_RDONLY | os.O_CLOEXEC)
    try:
        left = size
        while left:
            chunk = os.read(readable, min(_CHUNK, left)) or b"\0" * min(_CHUNK, left)
            left -= len(chunk)
            yield chunk
    finally:
        os.close(readable)
    if size % _BLOCK:
        yield b"\0" * (_BLOCK - size % _BLOCK)


def unpack(rootfs: Path, path: str, stream: BinaryIO, ids: IdShift,
           limits: UnpackLimits) -> UnpackReport:
    """Extract the tar `stream` into the existing directory `path` of the container."""
    directory = _open_dir(rootfs, path)
    try:
        with LayerUnpacker(directory, ids, keep_setuid=False, limits=limits,
                           live=True) as unpacker:
            for entry in TarReader(stream, limits).entries():
                unpacker.apply(entry)
            return unpacker.report
    finally:
        os.close(directory)

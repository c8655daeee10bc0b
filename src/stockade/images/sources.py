"""Read named files out of an image given as a directory or an archive, both untrusted."""

import io
import os
import posixpath
from pathlib import Path
from typing import BinaryIO, Protocol

from stockade.errors import ImageError
from stockade.images.limits import UnpackLimits
from stockade.images.safepath import open_in, open_regular_in
from stockade.images.tarstream import HARDLINK, REGULAR, SYMLINK, Entry, TarReader

_MAX_LINK_HOPS = 8


class Source(Protocol):
    """Files of an image layout or archive, addressed by relative path."""

    def exists(self, path: str) -> bool: ...

    def open(self, path: str) -> tuple[BinaryIO, int]: ...

    def names(self) -> list[str]: ...

    def close(self) -> None: ...


def read_small(source: Source, path: str, limits: UnpackLimits) -> bytes:
    """A metadata file, bounded so a hostile archive cannot make us hold gigabytes."""
    handle, size = source.open(path)
    with handle:
        if size > limits.max_metadata_bytes:
            raise ImageError(f"{path} is {size} bytes, too large for image metadata")
        return handle.read(limits.max_metadata_bytes)


def _clean(path: str) -> str:
    return "/".join(p for p in path.split("/") if p not in ("", "."))


class DirSource:
    """A directory held by a descriptor; every open resolves inside it, whatever symlinks
    it holds, and nothing is looked up by its path again (`shown` only names it)."""

    def __init__(self, root_fd: int, shown: Path) -> None:
        self.root_fd = root_fd
        self.shown = shown

    def exists(self, path: str) -> bool:
        try:
            os.close(open_in(self.root_fd, _clean(path), os.O_PATH))
        except OSError:
            return False
        return True

    def open(self, path: str) -> tuple[BinaryIO, int]:
        try:  # regular files only, and a FIFO planted in the layout cannot hang us
            fd = open_regular_in(self.root_fd, _clean(path))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ImageError(f"{path} is missing from {self.shown}: {exc.strerror}") from exc
        except OSError as exc:
            raise ImageError(f"{path} in {self.shown}: {exc}") from exc
        return os.fdopen(fd, "rb"), os.fstat(fd).st_size

    def names(self) -> list[str]:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.root_fd)
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def close(self) -> None:
        pass


class _Window(io.RawIOBase):
    """`size` bytes of a seekable file from `offset`, read through a private position."""

    def __init__(self, handle: BinaryIO, offset: int, size: int) -> None:
        super().__init__()
        self._handle = handle
        self._offset = offset
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        want = min(len(buffer), self._left)
        if want <= 0:
            return 0
        self._handle.seek(self._offset)
        data = self._handle.read(want)
        if not data:
            raise ImageError("archive member is truncated")
        buffer[:len(data)] = data
        self._offset += len(data)
        self._left -= len(data)
        return len(data)


class TarSource:
    """An uncompressed, seekable tar indexed once; members are read in place."""

    def __init__(self, path: Path, limits: UnpackLimits) -> None:
        self._handle = path.open("rb")
        try:
            self._members = self._index(limits)
        except BaseException:
            self._handle.close()
            raise

    def _index(self, limits: UnpackLimits) -> dict[str, Entry]:
        members: dict[str, Entry] = {}
        for count, entry in enumerate(TarReader(self._handle, limits).entries()):
            if count > limits.max_entries:
                raise ImageError(f"archive has more than {limits.max_entries} entries")
            members[_clean(entry.name)] = entry
        return members

    def _resolve(self, path: str) -> Entry:
        """Follow links between members (docker-archive shares layers that way)."""
        name = _clean(path)
        for _ in range(_MAX_LINK_HOPS):
            entry = self._members.get(name)
            if entry is None:
                raise ImageError(f"{path} is missing from the archive")
            if entry.kind == REGULAR:
                return entry
            if entry.kind == SYMLINK:
                name = _clean(posixpath.normpath(posixpath.join(posixpath.dirname(name),
                                                                entry.linkname)))
            elif entry.kind == HARDLINK:
                name = _clean(entry.linkname)
            else:
                raise ImageError(f"{path} in the archive is not a regular file")
            if name.startswith(".."):
                raise ImageError(f"{path} links outside the archive")
        raise ImageError(f"{path}: too many links in the archive")

    def exists(self, path: str) -> bool:
        try:
            self._resolve(path)
        except ImageError:
            return False
        return True

    def open(self, path: str) -> tuple[BinaryIO, int]:
        entry = self._resolve(path)
        window = io.BufferedReader(_Window(self._handle, entry.offset, entry.size), 1 << 20)
        return window, entry.size

    def names(self) -> list[str]:
        return sorted(self._members)

    def close(self) -> None:
        self._handle.close()

"""`stockade cp`: files between a container and the host, as tar streams.

The daemon packs and unpacks on the container's side (engine/archive.py: symlinks on the
way refused, ids shifted, setuid stripped). On the host's side the standard library's
tarfile does it with its `data` filter (no absolute paths, no `..`, no links leading out,
no device files), and what is written here belongs to whoever runs `cp`, as with
`docker cp`.
"""

import io
import os
import sys
import tarfile
import tempfile
from argparse import Namespace
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from stockade.cli import session
from stockade.errors import InvalidSpec


def _split(text: str) -> tuple[str, str] | None:
    """HANDLE:PATH, or None for a host path (one with a slash before any colon)."""
    handle, sep, path = text.partition(":")
    if not sep or "/" in handle or not handle:
        return None
    if not path.startswith("/"):
        raise InvalidSpec(f"{text}: the container path must be absolute (HANDLE:/PATH)")
    return handle, path


def cp(args: Namespace) -> None:
    source, dest = _split(args.src), _split(args.dest)
    if (source is None) == (dest is None):
        raise InvalidSpec("cp copies between a container and the host: cp HANDLE:PATH "
                          "HOSTPATH, or cp HOSTPATH HANDLE:DIR")
    client = session.open_json(args.options)
    if source is not None:
        _out(client.archive_out(*source), Path(args.dest))
    else:
        assert dest is not None
        _in(Path(args.src), lambda f, size: client.archive_in(dest[0], dest[1], f, size))


class _Chunks(io.RawIOBase):
    """A readable file over an iterator of byte chunks (tarfile reads a stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count


def _out(chunks: Iterator[bytes], dest: Path) -> None:
    """Into an existing directory under its own name, or as `dest` itself."""
    into, rename = (dest, None) if dest.is_dir() else (dest.parent, dest.name)
    if not into.is_dir():
        raise InvalidSpec(f"{into} is not a directory on this host")
    uid, gid = os.getuid(), os.getgid()
    stream = io.BufferedReader(_Chunks(chunks), 1 << 16)
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if rename is not None:
                rest = member.name.partition("/")[2]
                member.name = f"{rename}/{rest}" if rest else rename
            member.uid, member.gid, member.uname, member.gname = uid, gid, "", ""
            archive.extract(member, into, filter="data")


def _in(source: Path, send: Callable[[BinaryIO, int], dict[str, Any]]) -> None:
    if not source.exists() and not source.is_symlink():
        raise InvalidSpec(f"{source}: no such file or directory on this host")

    def as_root(member: tarfile.TarInfo) -> tarfile.TarInfo:
        member.uid, member.gid, member.uname, member.gname = 0, 0, "", ""
        return member

    with tempfile.TemporaryFile() as packed:
        with tarfile.open(fileobj=packed, mode="w") as archive:
            archive.add(source, arcname=source.name or ".", filter=as_root)
        size = packed.tell()
        report = send(packed, size)
    for skipped in report.get("skipped") or []:
        print(f"stockade: skipped {skipped}", file=sys.stderr)


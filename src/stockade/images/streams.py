"""Readers that hash, count and decompress, so one pass verifies and unpacks a layer."""

import gzip
import hashlib
import io
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol, cast

import zstandard

from stockade.errors import ImageError

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class HashingReader(io.RawIOBase):
    """Passes bytes through while hashing them; refuses to go past `limit`."""

    def __init__(self, inner: Readable, limit: int | None = None,
                 on_bytes: Callable[[int], None] | None = None, what: str = "stream") -> None:
        super().__init__()
        self._inner = inner
        self._hash = hashlib.sha256()
        self._limit = limit
        self._on_bytes = on_bytes
        self._what = what
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._hash.update(data)
        self.count += size
        if self._limit is not None and self.count > self._limit:
            raise ImageError(f"{self._what} grows past {self._limit} bytes; refusing it")
        if self._on_bytes is not None and size:
            self._on_bytes(size)
        return size

    def drain(self) -> None:
        """Read to the end so the digest covers every byte (tar padding, trailers)."""
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def compression_of(head: bytes) -> str:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "none"


def decompressed(raw: "io.BufferedReader[Any]") -> BinaryIO:
    """A reader of the uncompressed bytes of `raw`, whose format is sniffed, not trusted."""
    kind = compression_of(raw.peek(4)[:4])
    try:
        if kind == "gzip":
            return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))
        if kind == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            return cast(BinaryIO, reader)
    except (OSError, zstandard.ZstdError) as exc:
        raise ImageError(f"cannot decompress layer ({kind}): {exc}") from exc
    return cast(BinaryIO, raw)


class SafeDecompressor(io.RawIOBase):
    """Turns decompressor failures into ImageError so callers see one error type."""

    def __init__(self, inner: Readable, what: str) -> None:
        super().__init__()
        self._inner = inner
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            raise ImageError(f"{self._what} is corrupt: {exc}") from exc
        buffer[:len(data)] = data
        return len(data)

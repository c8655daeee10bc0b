"""Our own tar reader: headers parsed with bounds, data streamed, nothing extracted.

It understands ustar, GNU long names and POSIX pax records, which is what image tools
write. Every length an archive claims is checked before memory is spent on it."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from stockade.errors import ImageError
from stockade.images.limits import UnpackLimits

BLOCK = 512
REGULAR, HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO = "0", "1", "2", "3", "4", "5", "6"
_CONTIGUOUS = "7"
_PAX, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK = "x", "g", "L", "K"
_GNU_SPARSE = "S"
_CHUNK = 1 << 20
_MAX_MTIME = (1 << 33) - 1


@dataclass
class Entry:
    """One archive member; `data` reads its content (only for regular files)."""

    name: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    offset: int = 0  # where the content starts in the archive
    _reader: "TarReader | None" = field(default=None, repr=False)

    def chunks(self) -> Iterator[bytes]:
        """The content, in pieces; only valid until the next entry is requested."""
        if self._reader is None or self.kind != REGULAR:
            return iter(())
        return self._reader.content(self.size)


def _number(raw: bytes, what: str) -> int:
    """Octal text, or GNU base-256 when the top bit of the first byte is set."""
    if raw and raw[0] & 0x80:
        if raw[0] & 0x40:
            raise ImageError(f"tar header: negative {what}")
        value = raw[0] & 0x3F
        for byte in raw[1:]:
            value = (value << 8) | byte
        return value
    text = raw.split(b"\0", 1)[0].strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ImageError(f"tar header: malformed {what} field {text[:20]!r}") from None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape")


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + b" " * 8 + block[156:])
    return stored in (unsigned, signed)


def parse_pax(data: bytes) -> dict[str, str]:
    """POSIX pax records: '<len> <key>=<value>\\n', each length counting the whole record."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos:].strip(b"\0") == b"":
            break
        space = data.find(b" ", pos)
        if space < 0 or not data[pos:space].isdigit():
            raise ImageError("tar pax header: malformed record length")
        length = int(data[pos:space])
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise ImageError("tar pax header: record length out of bounds")
        key, sep, value = data[space + 1:end - 1].partition(b"=")
        if not sep:
            raise ImageError("tar pax header: record without '='")
        records[key.decode("utf-8", errors="surrogateescape")] = value.decode(
            "utf-8", errors="surrogateescape")
        pos = end
    return records


class TarReader:
    """Walk a tar stream entry by entry; knows the offset of every byte it has read."""

    def __init__(self, stream: BinaryIO, limits: UnpackLimits) -> None:
        self._stream = stream
        self._limits = limits
        self.position = 0
        self._pending = 0  # unread content + padding of the current entry
        self._seekable = _seekable(stream)

    def _read_exact(self, count: int) -> bytes:
        parts = []
        left = count
        while left:
            piece = self._stream.read(min(left, _CHUNK))
            if not piece:
                raise ImageError("tar archive is truncated")
            parts.append(piece)
            left -= len(piece)
        self.position += count
        return b"".join(parts)

    def _skip(self, count: int) -> None:
        if count and self._seekable:
            self._stream.seek(count, 1)
            self.position += count
            return
        while count:
            step = min(count, _CHUNK)
            self._read_exact(step)
            count -= step

    def content(self, size: int) -> Iterator[bytes]:
        left = size
        while left:
            step = min(left, _CHUNK)
            piece = self._read_exact(step)
            left -= step
            self._pending -= step
            yield piece

    def entries(self) -> Iterator[Entry]:
        """Yield every member; extension headers are folded into the member they describe."""
        pax: dict[str, str] = {}
        long_name = long_link = None
        while True:
            self._skip(self._pending)
            self._pending = 0
            block = self._stream.read(BLOCK)
            if len(block) < BLOCK or block == b"\0" * BLOCK:
                return  # end marker or a clean end of stream
            self.position += BLOCK
            if not _checksum_ok(block):
                raise ImageError(f"tar header checksum mismatch at offset {self.position - BLOCK}")
            kind = chr(block[156]) if block[156] else REGULAR
            size = _number(block[124:136], "size")
            if kind in (_PAX, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK):
                data = self._extension(size)
                if kind == _PAX:
                    pax.update(parse_pax(data))
                elif kind == _GNU_LONGNAME:
                    long_name = _text(data)
                elif kind == _GNU_LONGLINK:
                    long_link = _text(data)
                continue
            if kind == _GNU_SPARSE:
                raise ImageError("tar archive uses GNU sparse members, which images never need")
            entry = self._entry(block, kind, size, pax, long_name, long_link)
            pax, long_name, long_link = {}, None, None
            padded = _padded(entry.size) if entry.kind == REGULAR else 0
            self._pending = padded
            yield entry

    def _extension(self, size: int) -> bytes:
        if size > self._limits.max_header_bytes:
            raise ImageError(f"tar extension header of {size} bytes is absurdly large")
        data = self._read_exact(_padded(size))[:size]
        return data

    def _entry(self, block: bytes, kind: str, size: int, pax: dict[str, str],
               long_name: str | None, long_link: str | None) -> Entry:
        name = _text(block[0:100])
        if block[257:262] == b"ustar" and block[345] != 0:
            name = _text(block[345:500]) + "/" + name
        name = pax.get("path", long_name or name)
        linkname = pax.get("linkpath", long_link or _text(block[157:257]))
        if kind == _CONTIGUOUS:
            kind = REGULAR
        if kind in ("\0", "") or (kind == REGULAR and name.endswith("/")):
            kind = DIRECTORY if name.endswith("/") else REGULAR
        try:
            if "size" in pax:
                size = int(pax["size"])
            uid = int(pax["uid"]) if "uid" in pax else _number(block[108:116], "uid")
            gid = int(pax["gid"]) if "gid" in pax else _number(block[116:124], "gid")
            mtime = int(float(pax["mtime"])) if "mtime" in pax else \
                _number(block[136:148], "mtime")
        except (ValueError, OverflowError):
            raise ImageError(f"tar pax header of {name!r} has a malformed number") from None
        if size < 0 or uid < 0 or gid < 0:
            raise ImageError(f"tar member {name!r} has a negative size or owner")
        mtime = min(max(mtime, 0), _MAX_MTIME)  # utime() refuses what time_t cannot hold
        if kind != REGULAR:
            self._skip(_padded(size))  # links and directories carry no content we use
            size = 0
        return Entry(name=name, kind=kind, mode=_number(block[100:108], "mode") & 0o7777,
                     uid=uid, gid=gid, size=size, mtime=mtime, linkname=linkname,
                     devmajor=_number(block[329:337], "devmajor"),
                     devminor=_number(block[337:345], "devminor"),
                     offset=self.position, _reader=self)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError):
        return False


def _padded(size: int) -> int:
    return (size + BLOCK - 1) // BLOCK * BLOCK

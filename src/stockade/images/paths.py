"""Judge the paths an archive names before anything is created from them."""

import posixpath

from stockade.errors import ImageError
from stockade.images.limits import UnpackLimits

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_NAME_MAX = 255


def member_path(name: str, limits: UnpackLimits) -> str:
    """The member's path relative to the layer root ('' is the root itself).

    Absolute paths and '..' are refused rather than rewritten: an image that needs them
    was made to attack, and silently moving its files would hide that."""
    if "\0" in name:
        raise ImageError(f"archive path {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise ImageError(f"archive path {name!r} is absolute")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError(f"archive path {name!r} contains '..'")
    if len(name.encode(errors="surrogateescape")) > limits.max_path_bytes:
        raise ImageError(f"archive path {name[:60]!r}... is longer than "
                         f"{limits.max_path_bytes} bytes")
    if len(parts) > limits.max_depth:
        raise ImageError(f"archive path {name[:60]!r}... is nested deeper than {limits.max_depth}")
    if any(len(p.encode(errors="surrogateescape")) > _NAME_MAX for p in parts):
        raise ImageError(f"archive path {name[:60]!r} has a component over {_NAME_MAX} bytes")
    return "/".join(parts)


def symlink_escapes(path: str, target: str) -> bool:
    """True when a relative target climbs above the layer root from where the link sits.

    Absolute targets are fine: inside the container they resolve against its own root,
    and stockade itself never follows links in a layer (openat2 forbids it)."""
    if target.startswith("/"):
        return False
    depth = len([p for p in posixpath.dirname(path).split("/") if p not in ("", ".")])
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def split_whiteout(path: str) -> tuple[str, str | None]:
    """(directory, hidden name) for a '.wh.NAME' entry; hidden is None for the opaque marker."""
    directory, base = posixpath.split(path)
    if base == OPAQUE_MARKER:
        return directory, None
    hidden = base[len(WHITEOUT_PREFIX):]
    if hidden in ("", ".", "..") or hidden.startswith(WHITEOUT_PREFIX):
        raise ImageError(f"malformed whiteout entry {path!r}")
    return directory, hidden


def is_aufs_metadata(path: str) -> bool:
    """aufs bookkeeping ('.wh..wh.plnk' and friends) that old layers carry; never content."""
    base = posixpath.basename(path)
    return base.startswith(WHITEOUT_PREFIX * 2) and base != OPAQUE_MARKER


def is_whiteout(path: str) -> bool:
    return posixpath.basename(path).startswith(WHITEOUT_PREFIX)

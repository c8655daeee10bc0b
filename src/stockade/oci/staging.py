"""Per-container directories under /run/stockade-oci. Imported on `delete`: os only.

runc records the rootfs path it was given and `runc exec` starts its helper with that
directory as working directory, so a container that was handed a view under
/run/stockade-oci keeps its (empty, unmounted) directory until `delete`.
"""

import contextlib
import os
import time

STAGING = "/run/stockade-oci"
_ID_PUNCTUATION = frozenset("_+-.")
# A directory with no runc state this long after its create is an orphan.
ORPHAN_AFTER = 60.0


def valid_id(container_id: str) -> bool:
    """runc's own rule for container ids: ASCII letters, digits and _+-. only."""
    return container_id not in ("", ".", "..") and all(
        c.isascii() and (c.isalnum() or c in _ID_PUNCTUATION) for c in container_id)


def _quote(path: str) -> str:
    return path.replace("%", "%25").replace("/", "%2F")


def unquote(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


def container_dir(root: str, container_id: str) -> str:
    """/run/stockade-oci/<runc root, quoted>/<id>."""
    return f"{STAGING}/{_quote(os.path.abspath(root))}/{container_id}"


def _rmdir(path: str) -> None:
    with contextlib.suppress(OSError):  # not empty, a mount point, or gone: left as is
        os.rmdir(path)


def remove(directory: str) -> None:
    """rmdir only, bottom up, never a recursive delete: a mount left there stays whole."""
    for parent, dirs, _files in os.walk(directory, topdown=False):
        for name in dirs:
            _rmdir(os.path.join(parent, name))
    _rmdir(directory)
    _rmdir(os.path.dirname(directory))  # the runc root's directory, once empty


def sweep(now: float | None = None) -> None:
    """Remove directories of containers runc no longer knows (deleted behind our back)."""
    now = time.time() if now is None else now
    if not os.path.isdir(STAGING):
        return
    for root_entry in os.scandir(STAGING):
        root = unquote(root_entry.name)
        for entry in os.scandir(root_entry.path):
            stale = now - entry.stat(follow_symlinks=False).st_mtime > ORPHAN_AFTER
            if stale and not os.path.exists(f"{root}/{entry.name}/state.json"):
                remove(entry.path)

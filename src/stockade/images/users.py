"""Resolve a user spec (NAME, UID, UID:GID, NAME:GROUP) against an image's files."""

from pathlib import Path

from stockade.errors import InvalidSpec
from stockade.images.safepath import read_in_root

DEFAULT_USER = "vcap"
VCAP_ID = 2000


def _table(rootfs: Path, relative: str) -> dict[str, list[str]]:
    """Rows by name; read non-blocking, regular files only, at most 1 MiB (safepath)."""
    text = (read_in_root(rootfs, relative) or b"").decode(errors="replace")
    rows = (line.split(":") for line in text.splitlines() if line and not line.startswith("#"))
    return {row[0]: row for row in rows if len(row) >= 4}


def resolve(rootfs: Path, user: str | None) -> tuple[int, int]:
    """(uid, gid) for `user`; vcap is 2000:2000 even where the image lacks it."""
    try:
        return _resolve(rootfs, user)
    except InvalidSpec:
        raise
    except ValueError as exc:
        raise InvalidSpec(f"the image's /etc/passwd or /etc/group is malformed: {exc}") from exc
    except OSError as exc:  # the files are the container's: anything may be planted there
        raise InvalidSpec(f"cannot resolve user {user or DEFAULT_USER!r}: {exc}") from exc


def _resolve(rootfs: Path, user: str | None) -> tuple[int, int]:
    name, _, group = (user or DEFAULT_USER).partition(":")
    passwd = _table(rootfs, "etc/passwd")
    if name.isdigit():
        uid = int(name)
        row = next((r for r in passwd.values() if r[2] == name), None)
        gid = int(row[3]) if row else uid
    elif name in passwd:
        uid, gid = int(passwd[name][2]), int(passwd[name][3])
    elif name == DEFAULT_USER:
        uid, gid = VCAP_ID, VCAP_ID
    else:
        raise InvalidSpec(f"user {name!r} does not exist in the image")
    if group:
        gid = _group_id(rootfs, group)
    return uid, gid


def _group_id(rootfs: Path, group: str) -> int:
    if group.isdigit():
        return int(group)
    groups = _table(rootfs, "etc/group")
    if group not in groups:
        raise InvalidSpec(f"group {group!r} does not exist in the image")
    return int(groups[group][2])

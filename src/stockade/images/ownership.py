"""Shift file ownership into the container's host id range."""

import os
from pathlib import Path


def shift_tree(root: Path, host_base: int, size: int) -> None:
    """Every entry owned by container id N becomes host id host_base + N (N < size)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            _shift(Path(dirpath) / name, host_base, size)
    _shift(root, host_base, size)


def _shift(path: Path, host_base: int, size: int) -> None:
    st = path.lstat()
    uid = st.st_uid if st.st_uid < size else 65534
    gid = st.st_gid if st.st_gid < size else 65534
    os.lchown(path, host_base + uid, host_base + gid)

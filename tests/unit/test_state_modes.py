"""The state root's modes: whatever modes an older root starts with, one repair gives every
path its wanted mode, names each change once, leaves the containers' and images' own trees
alone, and leaves no file another host user could open (by the kernel's rules)."""

import os
import stat
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.engine import modes
from stockade.engine.reach import may_search
from stockade.linux import private

ID_BASE = 4_000_000  # not a group anyone has, so the group bits are seen to matter
NOBODY = 65534
# (path, is a directory); parents come before children
TREE = (
    ("state.db", False), ("state.db-wal", False), ("state.db-shm", False),
    ("runc.log", False), ("network-log.jsonl", False), ("volumes.lock", False),
    ("audit", True), ("audit/audit.jsonl", False),
    ("processes", True), ("processes/1.pid", False),
    ("bin", True), ("bin/init", False), ("bin/probe", False), ("bin/.init.sha256", False),
    ("containers", True), ("containers/c", True), ("containers/c/layers.json", False),
    ("containers/c/stdout.log", False), ("containers/c/exec-1.json", False),
    ("containers/c/bundle", True), ("containers/c/bundle/config.json", False),
    ("containers/c/net", True), ("containers/c/net/hosts", False),
    ("containers/c/rootfs", True), ("containers/c/rootfs/tmp", True),
    ("containers/c/rootfs/tmp/app.conf", False),
    ("containers/c/disk", True), ("containers/c/disk/upper", True),
    ("runc", True), ("runc/c", True), ("runc/c/state.json", False),
    ("images", True), ("images/.lock", False), ("images/images", True),
    ("images/images/x.json", False), ("images/layers", True), ("images/layers/sha256", True),
    ("images/layers/sha256/k", True), ("images/layers/sha256/k/layer.json", False),
    ("images/layers/sha256/k/rootfs", True), ("images/layers/sha256/k/rootfs/passwd", False),
    ("images/tmp", True), ("images/tmp/layer-1", True),
    ("volumes", True), ("volumes/c", True), ("volumes/c/upper", True),
)
# the containers' and images' own trees, which a repair must not touch
THEIRS = ("containers/c/rootfs", "containers/c/disk/", "runc/c", "images/layers/sha256/k/rootfs",
          "images/tmp/", "volumes/c")


def _theirs(relative: str) -> bool:
    return any(relative == t or relative.startswith(t.rstrip("/") + "/") for t in THEIRS)


def _build(root: Path, chosen: list[int], outside: Path) -> None:
    root.mkdir()
    for (relative, is_dir), mode in zip(TREE, chosen, strict=True):
        path = root / relative
        if is_dir:
            path.mkdir()
        else:
            path.write_text("secret")
        path.chmod(mode)
    (root / "containers/c/link").symlink_to(outside)  # a repair must not follow it
    root.chmod(0o755)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _may_open(root: Path, path: Path, uid: int, gid: int) -> bool:
    """The kernel's check for a user with no capabilities: search on every directory from
    the root down, then read or write permission on the file."""
    for directory in reversed(path.relative_to(root).parents):  # ".", then down
        info = (root / directory).stat()
        if not may_search(info.st_mode, info.st_uid, info.st_gid, uid, gid):
            return False
    info = path.stat()
    bits = (info.st_mode >> 6 if info.st_uid == uid else
            info.st_mode >> 3 if info.st_gid == gid else info.st_mode) & 0o7
    return bool(bits & 0o6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 0o7777), min_size=len(TREE), max_size=len(TREE)))
def test_one_repair_brings_any_root_to_the_wanted_modes(chosen: list[int]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        outside = Path(scratch, "outside")
        outside.write_text("not ours")
        outside.chmod(0o644)
        root = Path(scratch, "root")
        _build(root, chosen, outside)
        before = {relative: _mode(root / relative) for relative, _ in TREE}
        before[""] = 0o755

        lines = modes.repair(root, ID_BASE)

        changed = set()
        for relative, is_dir in (("", True), *TREE):
            path = root / relative
            if _theirs(relative):
                assert _mode(path) == before[relative], relative
                continue
            want = modes.wanted(Path(relative).parts, is_dir, ID_BASE)
            assert want is not None
            assert _mode(path) == want.mode, relative
            if want.group is not None:
                assert path.stat().st_gid == want.group
            if before[relative] != want.mode:
                changed.add(f"repaired {path}: mode {before[relative]:04o} -> {want.mode:04o}")
        groups = {f"repaired {root}/containers/c: group 0 -> {ID_BASE}",
                  f"repaired {root}/containers/c/net: group 0 -> {ID_BASE}"}
        assert sorted(lines) == sorted(changed | groups)
        assert _mode(outside) == 0o644
        assert modes.repair(root, ID_BASE) == []  # nothing left to repair
        for relative, is_dir in TREE:
            if not is_dir:
                assert not _may_open(root, root / relative, NOBODY, NOBODY), relative


def test_helpers_and_generated_files_keep_what_containers_need() -> None:
    assert modes.wanted(("bin", "init"), False, ID_BASE) == modes.Want(0o711)
    assert modes.wanted(("bin", ".init.sha256"), False, ID_BASE) == modes.Want(0o600)
    assert modes.wanted(("containers", "c", "net", "resolv.conf"), False, ID_BASE) == \
        modes.Want(0o644)
    assert modes.wanted(("containers", "c"), True, ID_BASE) == modes.Want(0o710, ID_BASE)
    assert modes.wanted(("containers", "c", "rootfs"), True, ID_BASE) is None
    assert modes.wanted(("volumes",), True, ID_BASE) == modes.Want(0o700, descend=False)


def test_private_files_are_0600_under_any_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        private.write(tmp_path / "a", "x")
        private.write_atomic(tmp_path / "b", "x")
        private.create(tmp_path / "c")
        os.close(private.open_append(tmp_path / "d"))
    finally:
        os.umask(previous)
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == dict.fromkeys("abcd", 0o600)


def test_private_writes_refuse_a_planted_link_or_fifo(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / "link").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "fifo"):
        try:
            private.write(tmp_path / name, "x")
        except OSError:
            pass
        else:
            raise AssertionError(f"wrote through {name}")
    assert target.read_text() == "keep"

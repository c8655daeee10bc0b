"""Bind sources and imports while another process swaps path components for symlinks.

A separate process keeps exchanging (renameat2 RENAME_EXCHANGE) a real directory under the
allowlisted base with a symlink to a decoy directory outside it, which holds a secret
file; a second pair does the same to a directory inside an image tree while it is packed.
Every create and import either refuses in one line or uses the original directory: the
secret never shows up in a container's view or in an imported image's files, nothing is
left mounted or staged, and the engine holds no extra descriptor afterwards."""

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stockade.engine import Engine, binds
from stockade.errors import ImageError, InvalidSpec, StockadeError
from stockade.linux.mounts import is_mountpoint
from stockade.spec import BindMount
from tests.containerkit import allowed_dir
from tests.integration.helpers import run, spec

pytestmark = pytest.mark.integration

# Swaps each pair of names as fast as it can until killed; both names exist at every
# instant, so the only thing a resolver can see change is which of them is the link.
SWAPPER = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
pairs = [(a.encode(), b.encode()) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]
print("swapping", flush=True)
while True:
    for a, b in pairs:
        if libc.renameat2(-100, a, -100, b, 2) != 0:
            raise SystemExit(f"renameat2: errno {ctypes.get_errno()}")
"""


@dataclass
class Arena:
    """`base/slot` and `base/spare` trade places: one is the real directory, the other a
    symlink to `decoy`. Inside an image tree that stays put, `base/stable/tree/sub` and
    `.../tree/spare` do the same, the link leading to the decoy's own `tree/sub`."""

    base: Path
    decoy: Path
    token: str
    outcomes: dict[str, int] = field(default_factory=lambda: {"used": 0, "refused": 0})

    @property
    def data(self) -> Path:
        return self.base / "slot/data"

    def tree(self, index: int) -> Path:
        """Odd imports race the component above the tree, even ones its packing."""
        return self.base / ("slot/tree" if index % 2 else "stable/tree")

    def refused(self, exc: StockadeError) -> None:
        text = str(exc)
        assert "\n" not in text, text
        assert self.token not in text
        self.outcomes["refused"] += 1


def _populate(base: Path, decoy: Path, token: str) -> None:
    for root, mark in ((base / "slot", f"original-{token}"), (base / "stable", f"original-{token}"),
                       (decoy, f"secret-{token}")):
        (root / "data").mkdir(parents=True)
        (root / "data" / mark).write_text(mark)
        (root / "tree/sub").mkdir(parents=True)
        (root / "tree/bin").mkdir()
        (root / "tree/sub" / mark).write_text(mark)
        (root / "tree" / mark).write_text(mark)
    (base / "spare").symlink_to(decoy)
    (base / "stable/tree/spare").symlink_to(decoy / "tree/sub")


@contextlib.contextmanager
def arena() -> Iterator[Arena]:
    token = secrets.token_hex(8)
    decoy = Path(tempfile.mkdtemp(prefix="stockade-test-decoy-"))
    try:
        with allowed_dir() as base:
            _populate(base, decoy, token)
            swapper = subprocess.Popen(
                [sys.executable, "-c", SWAPPER, str(base / "slot"), str(base / "spare"),
                 str(base / "stable/tree/sub"), str(base / "stable/tree/spare")],
                stdout=subprocess.PIPE, text=True)
            try:
                assert swapper.stdout is not None and swapper.stdout.readline() == "swapping\n"
                yield Arena(base, decoy, token)
                assert swapper.poll() is None, "the swapper stopped on its own"
            finally:
                swapper.kill()
                swapper.wait()
    finally:
        shutil.rmtree(decoy)


def _fds() -> dict[str, str]:
    found = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found[name] = os.readlink(f"/proc/self/fd/{name}")
    return found


def attempt_create(engine: Engine, where: Arena) -> None:
    request = spec(["true"], mounts=[{"host_path": str(where.data), "container_path": "/d"}])
    try:
        info = engine.create(request)
    except InvalidSpec as exc:
        where.refused(exc)
        assert engine.list() == []
        return
    try:
        assert info.pid is not None
        # the init waits in `runc create`'s mount namespace: what it would see at /d
        seen = os.listdir(f"/proc/{info.pid}/root/d")
        assert seen == [f"original-{where.token}"], seen
        assert not engine.layout.binds(request.handle).exists()
        where.outcomes["used"] += 1
    finally:
        engine.destroy(request.handle)


def _image_files(engine: Engine, name: str) -> dict[str, str]:
    """Each path in the image's layer -> "dir", "link:TARGET" or the file's text."""
    files = {}
    for layer in engine.image(name).layers:
        for directory, dirs, names in os.walk(layer):
            for entry in dirs + names:
                path = Path(directory, entry)
                rel = str(path.relative_to(layer))
                if path.is_symlink():
                    files[rel] = f"link:{os.readlink(path)}"
                elif path.is_dir():
                    files[rel] = "dir"
                else:
                    files[rel] = path.read_text()
    return files


def attempt_import(engine: Engine, where: Arena, index: int) -> None:
    name = f"swap-{index}"
    try:
        engine.import_image(where.tree(index), name=name,
                            within=engine.config.bind_allowlist)
    except (InvalidSpec, ImageError) as exc:
        # InvalidSpec: the path had a symlink on the way; ImageError: tree/sub changed
        # while it was packed
        where.refused(exc)
        return
    try:
        files = _image_files(engine, name)
        secret, mark = f"secret-{where.token}", f"original-{where.token}"
        assert not any(secret in f"{k} {v}" for k, v in files.items()), files
        assert files.get(mark) == mark, files
        # sub is the real directory, or the swapped-in link stored as a link (never
        # followed: its target is only text)
        assert files["sub"] in ("dir", f"link:{where.decoy / 'tree/sub'}"), files["sub"]
        if files["sub"] == "dir":
            assert files[f"sub/{mark}"] == mark
        where.outcomes["used"] += 1
    finally:
        engine.remove_image(name)


def _race(engine: Engine, creates: int, imports: int) -> dict[str, int]:
    # one create first: what the engine opens once and keeps (state, sockets) is not a leak
    run(engine, ["true"])
    before = _fds()
    started = time.monotonic()
    with arena() as where:
        for index in range(max(creates, imports)):
            if index < creates:
                attempt_create(engine, where)
            if index < imports:
                attempt_import(engine, where, index)
        outcomes = where.outcomes
    outcomes["seconds"] = round(time.monotonic() - started)
    print(f"\n{creates} creates and {imports} imports under swapping: {outcomes}")
    assert outcomes["used"] and outcomes["refused"], outcomes
    after = _fds()
    extra = {k: v for k, v in after.items() if before.get(k) != v}
    assert not extra, f"descriptors left open: {extra}"
    assert not engine.layout.bind_staging.exists() or \
        not any(engine.layout.bind_staging.iterdir())
    return outcomes


def test_swaps_during_creates_and_imports(engine: Engine) -> None:
    _race(engine, creates=25, imports=25)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_thousand_swaps_during_creates_and_imports(engine: Engine) -> None:
    _race(engine, creates=500, imports=500)


def test_the_bound_container_holds_no_extra_descriptor(engine: Engine) -> None:
    """verify's fd row, for a container with binds: the application starts with stdio
    only, whatever the engine held while it resolved and staged the sources."""
    with allowed_dir() as base:
        (base / "data").mkdir()
        (base / "file").write_text("x")
        result = run(engine, ["sh", "-c", "ls /proc/self/fd"], mounts=[
            {"host_path": str(base / "data"), "container_path": "/d"},
            {"host_path": str(base / "file"), "container_path": "/f", "read_only": False}])
    assert result.code == 0, result.err
    assert result.out.split() == ["0", "1", "2", "3"], result.out  # 3: ls's own listing


@pytest.mark.parametrize(("args", "target", "fails_in"), [
    (["/no/such/command"], "/d", "before runc"),
    (["true"], "/bin", "runc create"),  # a file cannot be mounted over a directory
])
def test_failed_creates_leave_no_copy_and_no_descriptor(engine: Engine, args: list[str],
                                                        target: str, fails_in: str) -> None:
    run(engine, ["true"])
    before = _fds()
    with allowed_dir() as base:
        (base / "keep").write_text("kept")
        source = base / "keep" if target == "/bin" else base
        request = spec(args, mounts=[{"host_path": str(source), "container_path": target,
                                      "read_only": False}])
        with pytest.raises(StockadeError) as failed:
            engine.create(request)
        assert "\n" not in str(failed.value), fails_in
        assert (base / "keep").read_text() == "kept"
    assert not engine.layout.binds(request.handle).exists()
    assert engine.list() == []
    assert {k: v for k, v in _fds().items() if before.get(k) != v} == {}


def test_copies_left_by_a_killed_daemon_are_detached_never_emptied(engine: Engine) -> None:
    """A daemon killed between staging and `runc create` leaves read-write copies of a
    caller's directory attached; cleanup detaches them and the directory keeps its files."""
    with allowed_dir() as base:
        (base / "data").mkdir()
        (base / "data/keep").write_text("kept")
        staging = engine.layout.binds("ghost")
        try:
            binds.stage([BindMount(host_path=str(base / "data"), container_path="/d",
                                   read_only=False)], engine.config.bind_allowlist, staging)
            assert is_mountpoint(staging / "0")
            assert engine.cleanup() == ["removed leftover bind staging ghost"]
            assert not staging.exists()
            assert (base / "data/keep").read_text() == "kept"
        finally:
            binds.unstage(staging)

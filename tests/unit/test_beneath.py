"""The resolver behind bind sources and imports: random trees and random paths.

Trees hold directories, files and symlinks (relative, absolute into and out of the base,
'..' chains, loops, /proc magic links); paths mix names, '.', '..' and empty components.
The resolver must never return a descriptor outside the base, must refuse every symlink on
the way in one line, and its fast path (openat2) and its walk must agree with a plain
lstat-by-lstat reading of the same path."""

import contextlib
import ctypes
import errno
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.errors import InvalidSpec, NotFound, StockadeError
from stockade.linux import beneath

NAMES = ("a", "b", "c")
LINK_TARGETS = ("a", "b", "..", "../..", "../outside", "a/../..", ".", "/", "/etc",
                "OUTSIDE", "BASE/a", "/proc/self/root", "/proc/self/cwd", "loop", "x/y")
_FUZZ = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])

Tree = dict[str, Any]
leaves = st.one_of(st.just("file"), st.sampled_from(LINK_TARGETS).map(lambda t: ("link", t)))
trees: st.SearchStrategy[Tree] = st.recursive(
    st.dictionaries(st.sampled_from(NAMES), leaves, max_size=3),
    lambda children: st.dictionaries(st.sampled_from(NAMES), leaves | children, max_size=3),
    max_leaves=12)
paths = st.lists(st.sampled_from((*NAMES, ".", "..", "", "loop")), max_size=7).map("/".join)


@contextlib.contextmanager
def sandbox() -> Iterator[tuple[Path, Path]]:
    """(base, outside): a secret lives outside, beside the base."""
    top = Path(tempfile.mkdtemp(prefix="stockade-beneath-"))
    try:
        (top / "outside").mkdir()
        (top / "outside/secret").write_text("secret")
        (top / "base").mkdir()
        yield top / "base", top / "outside"
    finally:
        shutil.rmtree(top)


def build(directory: Path, tree: Tree, base: Path, outside: Path) -> None:
    for name, node in tree.items():
        path = directory / name
        if node == "file":
            path.write_text(name)
        elif isinstance(node, tuple):
            target = node[1].replace("OUTSIDE", str(outside)).replace("BASE", str(base))
            path.symlink_to(path.name if target == "loop" else target)
        else:
            path.mkdir()
            build(path, node, base, outside)


def expected(base: Path, relative: str) -> tuple[str, Path | None]:
    """The outcome read with lstat, one string prefix at a time."""
    if relative.startswith("/"):
        return "outside", None
    done: list[str] = []
    is_dir = True
    for part in relative.split("/"):
        if not is_dir:
            return "not a directory", None
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                return "outside", None
            done.pop()
            continue
        done.append(part)
        try:
            mode = os.lstat(base.joinpath(*done)).st_mode
        except FileNotFoundError:
            return "missing", None
        if stat.S_ISLNK(mode):
            return "symlink", None
        is_dir = stat.S_ISDIR(mode)
    return "ok", base.joinpath(*done)


def _refusal(exc: StockadeError) -> str:
    text = str(exc)
    assert "\n" not in text and text.startswith("shown"), text
    if isinstance(exc, NotFound):
        return "missing"
    for words, kind in (("is a symlink", "symlink"), ("leads outside", "outside"),
                        ("is not a directory", "not a directory")):
        if words in text:
            return kind
    raise AssertionError(f"unexplained refusal: {text}")


def _check(resolve: Any, base: Path, relative: str) -> None:
    want, where = expected(base, relative)
    base_fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = resolve(base_fd, relative, "shown", str(base))
    except (InvalidSpec, NotFound) as exc:
        assert _refusal(exc) == want, (relative, str(exc))
        return
    finally:
        os.close(base_fd)
    try:
        assert want == "ok", (relative, want)
        assert where is not None
        real = Path(os.readlink(f"/proc/self/fd/{fd}"))
        assert real == base or base in real.parents, (relative, real)
        assert os.path.samestat(os.fstat(fd), os.lstat(where))
        assert os.get_inheritable(fd) is False
    finally:
        os.close(fd)


@_FUZZ
@given(tree=trees, relative=paths)
def test_the_resolver_stays_beneath_and_refuses_links(tree: Tree, relative: str) -> None:
    with sandbox() as (base, outside):
        build(base, tree, base, outside)
        _check(beneath.open_beneath, base, relative)
        _check(beneath.walk_beneath, base, relative)


@_FUZZ
@given(tree=trees, relative=paths)
def test_openat2_alone_is_no_more_permissive(tree: Tree, relative: str) -> None:
    """The fast path is the kernel's: it succeeds exactly where the reading above does."""
    relative = relative.lstrip("/")  # as the wrapper passes it
    if not relative:
        return  # openat2 answers ENOENT for an empty path; open_beneath walks instead
    with sandbox() as (base, outside):
        build(base, tree, base, outside)
        want, where = expected(base, relative)
        base_fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = beneath.openat2(base_fd, relative, os.O_PATH, beneath.RESOLVE_NO_SYMLINKS
                                 | beneath.RESOLVE_NO_MAGICLINKS | beneath.RESOLVE_BENEATH)
        except OSError:
            assert want != "ok", relative
            return
        finally:
            os.close(base_fd)
        try:
            assert want == "ok" and where is not None, (relative, want)
            assert os.path.samestat(os.fstat(fd), os.lstat(where))
        finally:
            os.close(fd)


@pytest.mark.parametrize(("path", "bases", "message"), [
    ("/srv/x", ("/srv/stockade",), "host path /srv/x is outside the allowed (/srv/stockade)"),
    ("/srv/stockade-other/x", ("/srv/stockade",), "outside the allowed"),
    ("relative/x", ("/srv/stockade",), "must be absolute"),
])
def test_paths_outside_every_base_are_refused_before_any_lookup(
        path: str, bases: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        beneath.open_under(path, [Path(b) for b in bases], "host path")


def test_the_longest_base_wins_and_names_the_component(tmp_path: Path) -> None:
    (tmp_path / "outer/inner").mkdir(parents=True)
    (tmp_path / "outer/inner/link").symlink_to("/")
    bases = [tmp_path / "outer", tmp_path / "outer/inner"]
    assert beneath.base_of(str(tmp_path / "outer/inner/x"), bases) == (bases[1], "x")
    with pytest.raises(InvalidSpec) as refused:
        beneath.open_under(str(tmp_path / "outer/inner/link/etc"), bases, "image path")
    assert str(refused.value) == (f"image path {tmp_path}/outer/inner/link/etc: "
                                  f"{tmp_path}/outer/inner/link is a symlink; symlinks are not "
                                  "followed, name the real path")


_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


def exchange(a: Path, b: Path) -> None:
    """renameat2(RENAME_EXCHANGE): both names exist at every instant."""
    if _libc.renameat2(-100, str(a).encode(), -100, str(b).encode(), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def test_a_component_swapped_for_a_symlink_during_resolution(tmp_path: Path) -> None:
    """Unit-level race: a thread keeps exchanging a real directory and a symlink to a
    directory outside; every resolution is refused or is the real directory."""
    base, outside = tmp_path / "base", tmp_path / "outside"
    (base / "real/data").mkdir(parents=True)
    outside.mkdir()
    (outside / "data").mkdir()
    (base / "spare").symlink_to(outside)
    real = os.stat(base / "real/data")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            exchange(base / "real", base / "spare")

    swapper = threading.Thread(target=swap)
    swapper.start()
    outcomes = {"ok": 0, "refused": 0}
    try:
        for _ in range(3000):
            try:
                fd = beneath.open_under(str(base / "real/data"), [base], "host path")
            except InvalidSpec as exc:
                assert "is a symlink" in str(exc) and "\n" not in str(exc)
                outcomes["refused"] += 1
                continue
            try:
                assert os.path.samestat(os.fstat(fd), real)
            finally:
                os.close(fd)
            outcomes["ok"] += 1
    finally:
        stop.set()
        swapper.join()
    assert outcomes["ok"] and outcomes["refused"], outcomes


def test_an_old_kernel_without_openat2_gets_the_walk(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/link").symlink_to("b")

    def absent(*_: object) -> int:
        raise OSError(errno.ENOSYS, "no openat2")

    monkeypatch.setattr(beneath, "openat2", absent)
    fd = beneath.open_under(str(tmp_path / "a/b"), [tmp_path], "host path")
    os.close(fd)
    with pytest.raises(InvalidSpec, match="is a symlink"):
        beneath.open_under(str(tmp_path / "a/link"), [tmp_path], "host path")

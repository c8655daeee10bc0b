"""Property tests: the path judge, the tar reader and the unpacker under random input."""

import contextlib
import io
import os
import posixpath
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.errors import ImageError
from stockade.images import paths
from stockade.images.limits import UnpackLimits
from stockade.images.tarstream import TarReader, parse_pax
from stockade.images.unpack import IdShift, LayerUnpacker
from tests.imagekit import Member, layer_tar

LIMITS = UnpackLimits(max_file_bytes=1 << 16, max_layer_bytes=1 << 20, max_entries=100)
PARTS = st.sampled_from(["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "c d", "é"])
NAMES = st.lists(PARTS, min_size=1, max_size=6).map("/".join) | \
    st.lists(PARTS, min_size=1, max_size=4).map(lambda p: "/" + "/".join(p))


@given(NAMES)
def test_member_path_is_clean_or_refused(name: str) -> None:
    try:
        clean = paths.member_path(name, LIMITS)
    except ImageError:
        return
    parts = clean.split("/") if clean else []
    assert not clean.startswith("/")
    assert all(p not in ("", ".", "..") for p in parts)
    assert paths.member_path(clean, LIMITS) == clean


@given(NAMES.filter(lambda n: not n.startswith("/")), NAMES)
def test_symlink_escape_matches_lexical_resolution(path: str, target: str) -> None:
    if ".." in path.split("/"):
        return
    escapes = paths.symlink_escapes(path, target)
    if target.startswith("/"):
        assert not escapes
        return
    parent = "/".join(p for p in posixpath.dirname(path).split("/") if p not in ("", "."))
    resolved = posixpath.normpath(posixpath.join(parent, target)) if parent else \
        posixpath.normpath(target)
    assert escapes == (resolved.split("/")[0] == "..")


@given(st.binary(min_size=0, max_size=2048))
def test_tar_reader_on_garbage_only_raises_image_error(data: bytes) -> None:
    try:
        for entry in TarReader(io.BytesIO(data), LIMITS).entries():
            for _ in entry.chunks():
                pass
    except ImageError:
        pass


@given(st.binary(min_size=1, max_size=400), st.integers(min_value=0, max_value=3000))
def test_tar_reader_on_mutated_archives(noise: bytes, at: int) -> None:
    good = bytearray(layer_tar([Member("a/b", data=b"x" * 700),
                                Member("l", "symlink", target="a/b")]))
    at %= len(good)
    good[at:at + len(noise)] = noise
    try:
        for entry in TarReader(io.BytesIO(bytes(good)), LIMITS).entries():
            for _ in entry.chunks():
                pass
    except ImageError:
        pass


@given(st.binary(max_size=300))
def test_pax_parser_only_raises_image_error(data: bytes) -> None:
    with contextlib.suppress(ImageError):
        parse_pax(data)


@pytest.fixture(scope="module")
def arena() -> Iterator[Path]:
    root = Path(f"/tmp/stockade-test-{uuid.uuid4().hex[:10]}")
    (root / "host").mkdir(parents=True)
    (root / "host/file").write_text("precious\n")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


KINDS = st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo", "char"])


@st.composite
def members(draw: st.DrawFn, host: str) -> Member:
    kind = draw(KINDS)
    targets = st.sampled_from(["a", "b", "../host", "../../host/file", host, f"{host}/file",
                               "a/b", "/", "."])
    return Member(draw(NAMES), kind, data=draw(st.binary(max_size=20)),
                  mode=draw(st.sampled_from([0o644, 0o755, 0o4755, 0o2755, 0o1777])),
                  uid=draw(st.sampled_from([0, 5, 70000])), target=draw(targets))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_archives_never_touch_the_host(arena: Path, data: st.DataObject) -> None:
    host = arena / "host"
    entries = data.draw(st.lists(members(str(host)), max_size=8))
    layer = arena / f"layer-{uuid.uuid4().hex}"
    layer.mkdir()
    try:
        with LayerUnpacker(layer, IdShift(1_000_000, 65536), False, LIMITS) as unpacker:
            for entry in TarReader(io.BytesIO(layer_tar(entries)), LIMITS).entries():
                try:
                    unpacker.apply(entry)
                except ImageError:
                    break
        assert sorted(p.name for p in host.iterdir()) == ["file"]
        assert (host / "file").read_text() == "precious\n"
        assert not os.listxattr(host)
        for path in layer.rglob("*"):
            mode = path.lstat().st_mode
            assert not (stat.S_ISREG(mode) and mode & 0o6000), "setuid survived"
            assert not stat.S_ISBLK(mode)
            if stat.S_ISCHR(mode):
                assert path.lstat().st_rdev == 0, "only whiteouts may be devices"
    finally:
        shutil.rmtree(layer, ignore_errors=True)

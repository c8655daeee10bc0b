"""Hostile archives: each is refused (or neutralised) and the host tree stays untouched."""

import contextlib
import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.errors import ImageError
from stockade.images import ImageStore
from stockade.images.limits import UnpackLimits
from tests.imagekit import Member, layer_tar

LIMITS = UnpackLimits(max_file_bytes=1 << 20, max_layer_bytes=4 << 20, max_entries=200,
                      max_depth=32, max_path_bytes=1024, max_header_bytes=64 << 10)


@pytest.fixture
def work() -> Iterator[Path]:
    root = Path(f"/tmp/stockade-test-{uuid.uuid4().hex[:10]}")
    (root / "host/etc").mkdir(parents=True)
    (root / "host/file").write_text("precious\n")
    (root / "host/etc/passwd").write_text("root:x:0:0::/:/bin/sh\n")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str, bytes]]:
    """Everything about a tree that an escape could change, xattrs included."""
    found = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) \
            else ""
        xattrs = b",".join(n.encode() for n in os.listxattr(path, follow_symlinks=False))
        found[str(path)] = (st.st_mode, st.st_uid, st.st_size, digest, xattrs)
    return found


def global_marks() -> set[str]:
    """Names an escape aimed at well-known places would create."""
    return {str(p) for base in (Path("/tmp"), Path("/etc"), Path("/"))
            for p in base.glob("pwned*")}


def _cases(host: Path) -> list[tuple[str, list[Member], str | None]]:
    """(id, members, expected error pattern or None when neutralised)."""
    big = b"x" * ((1 << 20) + 1)
    chunk = b"y" * (900 << 10)
    return [
        ("absolute path", [Member(f"{host}/pwned", data=b"x")], "absolute"),
        ("dotdot", [Member("../../host/pwned", data=b"x")], r"'\.\.'"),
        ("dotdot in the middle", [Member("a/../../host/pwned", data=b"x")], r"'\.\.'"),
        ("write through absolute symlink", [Member("esc", "symlink", target=str(host)),
                                            Member("esc/pwned", data=b"x")], "symlink"),
        ("relative symlink escaping", [Member("up", "symlink", target="../../../..")],
         "outside the layer"),
        ("hardlink with dotdot", [Member("hl", "hardlink", target="../../host/file")],
         r"'\.\.'"),
        ("hardlink absolute", [Member("hl", "hardlink", target=f"{host}/file")], "absolute"),
        ("hardlink through symlink", [Member("lnk", "symlink", target=str(host)),
                                      Member("hl", "hardlink", target="lnk/file")],
         "symlink"),
        ("hardlink to directory", [Member("d", "dir"), Member("h", "hardlink", target="d")],
         "directory"),
        ("dir replaced by symlink then written through",
         [Member("d", "dir"), Member("d", "symlink", target=str(host)),
          Member("d/pwned", data=b"x")], "symlink"),
        ("whiteout through symlink", [Member("esc", "symlink", target=str(host)),
                                      Member("esc/.wh.file")], "symlink"),
        ("opaque marker through symlink", [Member("esc", "symlink", target=str(host / "etc")),
                                           Member("esc/.wh..wh..opq")], "symlink"),
        ("malformed whiteout", [Member("a/.wh..")], "whiteout"),
        ("root replaced by symlink", [Member(".", "symlink", target="/")], "root"),
        ("symlink loop then write", [Member("a", "symlink", target="b"),
                                     Member("b", "symlink", target="a"),
                                     Member("a/pwned", data=b"x")], "symlink"),
        ("file over the size limit", [Member("big", data=big)], "limit"),
        ("layer over the size limit", [Member(f"f{i}", data=chunk) for i in range(6)],
         "limit"),
        ("too many entries", [Member(f"f{i}") for i in range(300)], "entries"),
        ("path too deep", [Member("/".join(["d"] * 40) + "/f")], "deeper"),
        ("path too long", [Member("a" * 200 + "/" + "b" * 200 + "/" + "c" * 200 + "/" +
                                  "d" * 250 + "/" + "e" * 250)], "longer"),
        ("character device", [Member("dev-sda", "char")], None),
        ("block device", [Member("disk", "block")], None),
    ]


CASE_IDS = [case[0] for case in _cases(Path("/x"))]


@pytest.mark.parametrize("case", CASE_IDS)
def test_hostile_layer_is_refused(work: Path, case: str) -> None:
    host = work / "host"
    members, expected = next((m, e) for name, m, e in _cases(host) if name == case)
    archive = work / "evil.tar"
    archive.write_bytes(layer_tar(members))
    store = ImageStore(work / "store", 1_000_000, 65536, LIMITS)
    before, marks = snapshot(host), global_marks()
    if expected is None:
        image = store.import_path(archive, name="neutral")
        layer = image.layers[0]
        assert not any(stat.S_ISCHR(p.lstat().st_mode) or stat.S_ISBLK(p.lstat().st_mode)
                       for p in layer.rglob("*")), "device nodes must not be created"
        assert any("device node" in note for note in image.notes)
    else:
        with pytest.raises(ImageError, match=expected):
            store.import_path(archive, name="evil")
        assert store.records() == [] and store.layers.stored() == []
    assert snapshot(host) == before
    assert global_marks() == marks


def test_decompression_bomb(work: Path) -> None:
    bomb = work / "bomb.tar.gz"
    payload = layer_tar([Member("zeros", data=b"\0" * (900 << 10))] * 1)
    bomb.write_bytes(gzip.compress(payload + b"\0" * (64 << 20)))
    store = ImageStore(work / "store", 1_000_000, 65536,
                       UnpackLimits(max_layer_bytes=1 << 20, max_file_bytes=1 << 20))
    with pytest.raises(ImageError, match=r"grows past|absurd|limit"):
        store.import_path(bomb, name="bomb")


def test_huge_pax_header(work: Path) -> None:
    info = tarfile.TarInfo("pax")
    info.type = tarfile.XHDTYPE
    info.size = 512 << 20
    archive = work / "pax.tar"
    archive.write_bytes(info.tobuf(tarfile.USTAR_FORMAT))
    store = ImageStore(work / "store", 1_000_000, 65536, LIMITS)
    with pytest.raises(ImageError, match="absurdly large"):
        store.import_path(archive, name="pax")


def test_bad_checksum_and_truncation(work: Path) -> None:
    good = layer_tar([Member("f", data=b"hello" * 300)])
    store = ImageStore(work / "store", 1_000_000, 65536, LIMITS)
    broken = bytearray(good)
    broken[0] ^= 0x01  # the first header's name changes, the checksum no longer matches
    (work / "bad.tar").write_bytes(bytes(broken))
    with pytest.raises(ImageError, match="checksum"):
        store.import_path(work / "bad.tar", name="bad")
    (work / "short.tar").write_bytes(good[:700])
    with pytest.raises(ImageError, match="truncated"):
        store.import_path(work / "short.tar", name="short")


def test_hostile_layout_paths(work: Path) -> None:
    """A layout whose index names a digest with path tricks never reads outside it."""
    layout = work / "oci"
    layout.mkdir()
    (layout / "oci-layout").write_text("{}")
    (layout / "index.json").write_text('{"manifests": [{"digest": "sha256:../../../etc/passwd"'
                                       ', "size": 1}]}')
    store = ImageStore(work / "store", 1_000_000, 65536, LIMITS)
    with pytest.raises(ImageError, match="malformed digest"):
        store.import_path(layout, name="x")
    (layout / "blobs").symlink_to("/etc")
    digest = hashlib.sha256(Path("/etc/hostname").read_bytes()).hexdigest()
    (layout / "index.json").write_text(f'{{"manifests": [{{"digest": "sha256:{digest}"}}]}}')
    with pytest.raises(ImageError):
        store.import_path(layout, name="x")


def test_absurd_pax_numbers(work: Path) -> None:
    """A pax mtime of 1e308 or inf must be an archive error, not a crash."""
    for mtime in ("1e308", "inf", "nan", "-5"):
        info = tarfile.TarInfo("f")
        info.pax_headers = {"mtime": mtime}
        archive = work / "pax.tar"
        with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as out:
            out.addfile(info, io.BytesIO(b""))
        store = ImageStore(work / f"store-{uuid.uuid4().hex}", 1_000_000, 65536, LIMITS)
        with contextlib.suppress(ImageError):
            store.import_path(archive, name="pax")


def test_fifo_in_layout_and_as_path(work: Path) -> None:
    layout = work / "oci"
    layout.mkdir()
    (layout / "oci-layout").write_text("{}")
    os.mkfifo(layout / "index.json")
    store = ImageStore(work / "store", 1_000_000, 65536, LIMITS)
    with pytest.raises(ImageError, match="not a regular file"):
        store.import_path(layout, name="x")
    with pytest.raises(ImageError, match="neither"):
        store.import_path(layout / "index.json", name="x")

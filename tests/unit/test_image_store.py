"""Importing images of every supported format into the content-addressed store."""

import io
import json
import os
import shutil
import stat
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.errors import ImageError, InvalidSpec, NotFound
from stockade.images import ImageStore
from tests.imagekit import (
    Member,
    compress,
    layer_tar,
    sample_image,
    sha,
    tar_directory,
    write_docker_archive,
    write_oci_layout,
)

BASE = 1_000_000


@pytest.fixture
def work() -> Iterator[Path]:
    root = Path(f"/tmp/stockade-test-{uuid.uuid4().hex[:10]}")
    root.mkdir()
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def store(work: Path) -> ImageStore:
    return ImageStore(work / "images", BASE, 65536)


def _top(store: ImageStore, name: str) -> Path:
    return store.get(name).layers[-1]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_oci_layout_directory(store: ImageStore, work: Path, compression: str) -> None:
    layout = write_oci_layout(sample_image(compression), work / "oci")
    image = store.import_path(layout)
    assert image.name == "test/oci:1"
    assert len(image.layers) == 2
    assert image.config.working_dir == "/app"
    assert "GREETING=hello" in image.config.env
    assert image.config.cmd == ("sh", "-c", "echo default-cmd")
    top = image.layers[1]
    gone = (top / "app/gone.txt").lstat()
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0, "whiteout is a 0:0 char device"
    assert os.getxattr(top / "app/opaque", "trusted.overlay.opaque") == b"y"
    assert (top / "app/data.txt").stat().st_ino == (top / "app/data-link").stat().st_ino
    assert os.readlink(top / "app/sym") == "/app/data.txt"


def test_setuid_stripped_and_ownership_shifted(store: ImageStore, work: Path) -> None:
    image = store.import_path(write_oci_layout(sample_image(), work / "oci"))
    base, top = image.layers
    assert stat.S_IMODE((base / "app/setuid-tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((top / "app/setgid-tool").stat().st_mode) == 0o755
    assert any("setuid-tool" in note for note in image.notes)
    st = (base / "app/keep.txt").stat()
    assert (st.st_uid, st.st_gid) == (BASE + 1234, BASE + 1234)
    assert (base / "bin/busybox").stat().st_uid == BASE


def test_keep_setuid_is_a_separate_layer(store: ImageStore, work: Path) -> None:
    layout = write_oci_layout(sample_image(), work / "oci")
    plain = store.import_path(layout, name="plain")
    kept = store.import_path(layout, name="kept", keep_setuid=True)
    assert plain.layer_keys != kept.layer_keys
    assert (kept.layers[0] / "app/setuid-tool").stat().st_mode & stat.S_ISUID


def test_docker_archive(store: ImageStore, work: Path) -> None:
    image = store.import_path(write_docker_archive(sample_image(), work / "img.tar"))
    assert image.name == "test/docker:1"
    assert image.source.startswith("docker-archive")
    assert stat.S_ISCHR((image.layers[1] / "app/gone.txt").lstat().st_mode)


def test_oci_archive_gzipped(store: ImageStore, work: Path) -> None:
    layout = write_oci_layout(sample_image(), work / "oci")
    archive = tar_directory(layout, work / "oci.tar")
    gzipped = work / "oci.tar.gz"
    gzipped.write_bytes(compress(archive.read_bytes(), "gzip"))
    image = store.import_path(gzipped, name="from-archive")
    assert image.name == "from-archive" and len(image.layers) == 2


def test_layers_are_shared(store: ImageStore, work: Path) -> None:
    layout = write_oci_layout(sample_image(), work / "oci")
    first = store.import_path(layout, name="one")
    second = store.import_path(write_docker_archive(sample_image(), work / "d.tar"), name="two")
    assert first.layer_keys == second.layer_keys
    assert len(store.layers.stored()) == 2


@pytest.mark.parametrize("how", ["none", "gzip", "zstd"])
def test_rootfs_tar(store: ImageStore, work: Path, how: str) -> None:
    data = compress(layer_tar([Member("etc", "dir", mode=0o755),
                               Member("etc/hostname", data=b"x\n")]), how)
    (work / "root.tar").write_bytes(data)
    image = store.import_path(work / "root.tar", name="rootfs")
    assert (image.layers[0] / "etc/hostname").read_bytes() == b"x\n"
    assert image.config.cmd == ("sh",)


def test_rootfs_directory(store: ImageStore, work: Path) -> None:
    tree = work / "tree"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/tool").write_text("#!/bin/sh\n")
    (tree / "usr/bin/tool").chmod(0o4755)
    (tree / "bin").symlink_to("usr/bin")
    image = store.import_path(tree, name="dir-image")
    layer = image.layers[0]
    assert os.readlink(layer / "bin") == "usr/bin"
    assert stat.S_IMODE((layer / "usr/bin/tool").stat().st_mode) == 0o755


def test_digest_mismatch_is_clear_and_leaves_nothing(store: ImageStore, work: Path) -> None:
    layout = write_oci_layout(sample_image(), work / "oci", corrupt_layer=True)
    with pytest.raises(ImageError, match=r"digest mismatch|corrupt"):
        store.import_path(layout, name="bad")
    assert store.records() == []
    assert store.layers.stored() == []
    assert not any(store.tmp.iterdir()) if store.tmp.exists() else True


def test_diff_id_mismatch(store: ImageStore, work: Path) -> None:
    archive = write_docker_archive(sample_image(), work / "d.tar", wrong_diff_id=True)
    with pytest.raises(ImageError, match="diff id"):
        store.import_path(archive)


def test_remove_and_gc(store: ImageStore, work: Path) -> None:
    store.import_path(write_oci_layout(sample_image(), work / "oci"), name="one")
    store.remove("one")
    report = store.gc()
    assert len(report.removed_layers) == 2 and store.layers.stored() == []
    with pytest.raises(NotFound):
        store.remove("one")


def test_gc_keeps_layers_in_use(store: ImageStore, work: Path) -> None:
    image = store.import_path(write_oci_layout(sample_image(), work / "oci"), name="one")
    store.remove("one")
    assert store.gc(keep=set(image.layer_keys)).removed_layers == []


def test_bad_names_and_paths(store: ImageStore, work: Path) -> None:
    with pytest.raises(InvalidSpec):
        store.import_path(work, name="../evil")
    with pytest.raises(NotFound):
        store.import_path(work / "missing.tar")


def test_embedded_image_goes_through_the_store(store: ImageStore) -> None:
    image = store.get("busybox")
    assert (image.layers[0] / "bin/busybox").stat().st_uid == BASE
    assert (image.layers[0] / "home/vcap").stat().st_uid == BASE + 2000


def test_docker_archive_with_linked_duplicate_layer(store: ImageStore, work: Path) -> None:
    """Old `docker save` stores a repeated layer once and links to it."""
    plain = layer_tar([Member("same.txt", data=b"same\n")])
    config = json.dumps({"config": {}, "rootfs": {"diff_ids": [sha(plain)] * 2}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": None,
                            "Layers": ["a/layer.tar", "b/layer.tar"]}]).encode()
    archive = work / "dup.tar"
    with tarfile.open(archive, "w") as out:
        for name, data in (("a/layer.tar", plain), ("config.json", config),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("b/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../a/layer.tar"
        out.addfile(link)
    image = store.import_path(archive, name="dup")
    assert len(image.layers) == 2 and image.layers[0] == image.layers[1]


def test_multi_platform_index_picks_this_host(store: ImageStore, work: Path) -> None:
    layout = write_oci_layout(sample_image(), work / "oci")
    index = json.loads((layout / "index.json").read_text())
    right = index["manifests"][0]
    wrong = dict(right, digest="sha256:" + "0" * 64, platform={"os": "linux",
                                                               "architecture": "s390x"})
    right["platform"] = {"os": "linux", "architecture": "amd64"}
    (layout / "index.json").write_text(json.dumps({"manifests": [wrong, right]}))
    assert len(store.import_path(layout, name="multi").layers) == 2


def test_import_paths_resolve_below_the_allowed_without_links(store: ImageStore,
                                                              work: Path) -> None:
    """What a TLS client may import: only below the allowlist, never through a symlink,
    and the refusal is one line."""
    allowed = work / "allowed"
    layout = write_oci_layout(sample_image(), allowed / "real/oci")
    (allowed / "link").symlink_to(allowed / "real")
    (work / "outside").mkdir()
    write_oci_layout(sample_image(), work / "outside/oci")
    (allowed / "out").symlink_to(work / "outside")
    within = (allowed,)
    assert store.import_path(layout, name="ok", within=within).name == "ok"
    for path, why in ((allowed / "link/oci", "is a symlink"), (allowed / "out/oci", "is a symlink"),
                      (work / "outside/oci", "outside the allowed"),
                      (Path(f"{allowed}/real/../../outside/oci"), "leads outside"),
                      (allowed / "real/missing", "no such file")):
        with pytest.raises((InvalidSpec, NotFound), match=why) as refused:
            store.import_path(path, name="refused", within=within)
        assert "\n" not in str(refused.value)
    assert [r.name for r in store.records()] == ["ok"]


def test_a_rootfs_directory_is_packed_by_descriptor(store: ImageStore, work: Path) -> None:
    """Links inside the tree are stored as links, hard links stay linked, a FIFO is kept as
    a FIFO and never opened for its contents; the same tree gives the same layer."""
    tree = work / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.link(tree / "etc/passwd", tree / "etc/passwd-")
    (tree / "etc/host").symlink_to("/etc/shadow")
    (tree / "dir-link").symlink_to("/root")
    os.mkfifo(tree / "pipe")
    first = store.import_path(tree, name="one")
    layer = first.layers[0]
    assert os.readlink(layer / "etc/host") == "/etc/shadow"
    assert os.readlink(layer / "dir-link") == "/root"
    assert os.stat(layer / "etc/passwd").st_ino == os.stat(layer / "etc/passwd-").st_ino
    assert stat.S_ISFIFO(os.lstat(layer / "pipe").st_mode)
    assert store.import_path(tree, name="two").layer_keys == first.layer_keys

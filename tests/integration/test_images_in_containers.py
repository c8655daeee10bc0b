"""Images built by the test, imported, then run: the tree inside is the image's final tree."""

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.engine import Engine
from stockade.errors import Conflict
from stockade.spec import ContainerSpec, ProcessSpec
from tests.containerkit import handle, private_engine, run
from tests.imagekit import sample_image, write_docker_archive, write_oci_layout

pytestmark = pytest.mark.integration

CHECK = """
set -e
cd /app
test ! -e gone.txt && echo whiteout-ok
test "$(ls opaque)" = "new.txt" && echo opaque-ok
test "$(stat -c %i data.txt)" = "$(stat -c %i data-link)" && echo hardlink-ok
test "$(cat sym)" = "shared bytes" && echo symlink-ok
test "$(stat -c %a setuid-tool)" = "755" && test "$(stat -c %a setgid-tool)" = "755" \
  && echo setuid-stripped
test "$(stat -c %u:%g keep.txt)" = "1234:1234" && echo owner-ok
echo "pwd=$(pwd) greeting=$GREETING user=$(id -u)"
"""


@pytest.fixture
def engine() -> Iterator[Engine]:
    with private_engine() as engine:
        yield engine


@pytest.fixture
def images_dir() -> Iterator[Path]:
    path = Path(f"/tmp/stockade-test-src-{uuid.uuid4().hex[:10]}")
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("kind", ["docker-archive", "oci-layout"])
def test_tree_inside_matches_the_image(engine: Engine, images_dir: Path, kind: str) -> None:
    source = write_docker_archive(sample_image(), images_dir / "img.tar") \
        if kind == "docker-archive" else write_oci_layout(sample_image("zstd"), images_dir / "oci")
    engine.import_image(source, name=f"sample-{kind}")
    code, out = run(engine, ContainerSpec(handle=handle(), image=f"sample-{kind}",
                                          process=ProcessSpec(args=["sh", "-c", CHECK])))
    assert code == 0, out
    for mark in ("whiteout-ok", "opaque-ok", "hardlink-ok", "symlink-ok", "setuid-stripped",
                 "owner-ok"):
        assert mark in out, out
    assert "pwd=/app greeting=hello user=2000" in out


def test_image_config_gives_the_default_command(engine: Engine, images_dir: Path) -> None:
    engine.import_image(write_oci_layout(sample_image(), images_dir / "oci"), name="dflt")
    code, out = run(engine, ContainerSpec(handle=handle(), image="dflt"))
    assert (code, out.strip()) == (0, "default-cmd")


def test_image_rm_refused_while_in_use(engine: Engine, images_dir: Path) -> None:
    engine.import_image(write_oci_layout(sample_image(), images_dir / "oci"), name="busy")
    spec = ContainerSpec(handle=handle(), image="busy",
                         process=ProcessSpec(args=["sh", "-c", "exit 0"]))
    run(engine, spec, keep=True)
    with pytest.raises(Conflict, match=spec.handle):
        engine.remove_image("busy")
    assert [u for image, u in engine.list_images() if image.name == "busy"] == [[spec.handle]]
    engine.destroy(spec.handle)
    report = engine.remove_image("busy")
    assert len(report.removed_layers) == 2


def test_failed_create_leaves_nothing(engine: Engine, images_dir: Path) -> None:
    engine.import_image(write_oci_layout(sample_image(), images_dir / "oci"), name="x")
    spec = ContainerSpec(handle=handle(), image="x",
                         process=ProcessSpec(args=["sh"], user="nosuchuser"))
    with pytest.raises(Exception, match="nosuchuser"):
        engine.create(spec)
    assert engine.list() == []
    assert not engine.layout.container(spec.handle).exists()
    assert not any(engine.volumes.config.root.joinpath("volumes").glob("*"))

"""The hardened Debian base image, built for real with debootstrap (needs the mirror)."""

from collections.abc import Iterator

import pytest

from stockade.engine import Engine
from stockade.spec import ContainerSpec, ProcessSpec
from tests.containerkit import handle, private_engine, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROBE = """
echo "user=$(id -un):$(id -u):$(id -g) home=$(pwd)"
echo "setuid=$(find / -xdev -type f -perm /6000 2>/dev/null | wc -l)"
echo "docs=$(find /usr/share/doc /usr/share/man -type f 2>/dev/null | wc -l)"
echo "apt=$(find /var/cache/apt /var/lib/apt/lists -type f 2>/dev/null | wc -l)"
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with private_engine() as engine:
        yield engine


def test_build_base_is_hardened(engine: Engine) -> None:
    messages: list[str] = []

    class Record:
        def layer_started(self, index: int, total: int, digest: str, size: int | None) -> None:
            messages.append("layer")

        def advanced(self, nbytes: int) -> None:
            pass

        def layer_finished(self, digest: str, reused: bool) -> None:
            pass

        def message(self, text: str) -> None:
            messages.append(text)

    image = engine.build_base_image("base", Record())
    assert any("debootstrap" in m for m in messages) and "layer" in messages
    names = {p.name for p in image.packages}
    assert {"bash", "libc6", "dpkg", "base-files"} <= names
    assert all(p.version for p in image.packages)
    assert not [n for n in image.notes if "device node" in n]
    code, out = run(engine, ContainerSpec(handle=handle("base"), image="base",
                                          process=ProcessSpec(args=["bash", "-c", PROBE])))
    assert code == 0, out
    assert "user=vcap:2000:2000 home=/home/vcap" in out
    assert "setuid=0" in out and "docs=0" in out and "apt=0" in out, out
    assert not list(engine.config.root.glob("images/build-*")), "staging tree left behind"

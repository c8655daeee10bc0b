"""The state-root reachability check agrees with the kernel, and names what blocks."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.engine.reach import blocking_directory, check_reachable, may_search
from stockade.errors import InvalidSpec

ID = 1_000_000  # the containers' root user on the host (the default id base)
OTHER = 54321

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown and setuid need root")


@pytest.fixture(scope="module")
def open_base() -> Iterator[Path]:
    """A directory anyone may traverse (pytest's own are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="stockade-reach-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base)


def _kernel_may_search(directory: Path) -> bool:
    """Ask the kernel: stat an entry inside as uid/gid ID with no supplementary groups."""
    done = subprocess.run(["stat", "--", str(directory / "entry")], user=ID, group=ID,
                          extra_groups=[], cwd="/", check=False, capture_output=True, text=True)
    assert done.returncode == 0 or "Permission denied" in done.stderr, done.stderr
    return done.returncode == 0


@needs_root
@settings(max_examples=40, deadline=None)
@given(mode=st.integers(0, 0o777), owner=st.sampled_from([0, ID, OTHER]),
       group=st.sampled_from([0, ID, OTHER]))
def test_agrees_with_the_kernel(open_base: Path, mode: int, owner: int, group: int) -> None:
    directory = Path(tempfile.mkdtemp(dir=open_base))
    (directory / "entry").write_text("")
    os.chown(directory, owner, group)
    os.chmod(directory, mode)
    assert may_search(mode, owner, group, ID, ID) == _kernel_may_search(directory)


def test_owner_bits_alone_apply_to_the_owner() -> None:
    assert not may_search(0o601, ID, 0, ID, ID)  # others' x does not help the owner
    assert not may_search(0o061, 0, ID, ID, ID)
    assert may_search(0o700, ID, 0, ID, ID)


def test_a_private_parent_is_named_with_its_fix(open_base: Path) -> None:
    private = open_base / "private"
    private.mkdir(mode=0o700)
    root = private / "state" / "root"  # not made yet: only what exists is checked
    with pytest.raises(InvalidSpec) as caught:
        check_reachable(root, ID, ID)
    message = str(caught.value)
    assert f"{private} (mode 0700" in message and f"chmod o+x {private}" in message
    assert "\n" not in message
    private.chmod(0o711)
    assert blocking_directory(root, ID, ID) is None

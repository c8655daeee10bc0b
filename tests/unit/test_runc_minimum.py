"""The runc minimum (issue 16 part 5): 1.1.12, or a package whose changelog names the
CVE-2024-21626 fix; checked before the engine makes anything, shown by `stockade info`."""

import gzip
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.engine import Engine, EngineConfig
from stockade.errors import HostUnsupported
from stockade.host.probe import probe_runc_package
from stockade.policy.runtime import RUNC_MINIMUM, runc_minimum, upstream_version
from tests.hostkit import make_host

FIX = "CVE-2024-21626"


@given(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 20)),
       st.sampled_from(["", "+ds1", "-rc.1", "+dev"]))
def test_without_a_backport_only_the_version_decides(parts: tuple[int, int, int],
                                                     suffix: str) -> None:
    version = ".".join(map(str, parts)) + suffix
    verdict = runc_minimum(make_host(runc_version=version))
    assert verdict.available == (parts >= (1, 1, 12))
    if not verdict.available:
        assert RUNC_MINIMUM in verdict.detail and FIX in verdict.detail


def test_debians_backport_is_accepted_by_name() -> None:
    host = make_host(runc_version="1.1.5+ds1", runc_package="runc 1.1.5+ds1-1+deb12u1",
                     runc_backports=(FIX,))
    verdict = runc_minimum(host)
    assert verdict.available and "runc 1.1.5+ds1-1+deb12u1 backports" in verdict.detail


@pytest.mark.parametrize("changes", [
    {"runc_version": "1.1.5+ds1", "runc_package": "runc 1.1.5+ds1-1"},  # no fix named
    {"runc_version": "1.1.5", "runc_backports": (FIX,)},  # not from a package
    {"runc_version": None},
])
def test_an_unfixed_or_unknown_runc_is_refused(changes: dict[str, object]) -> None:
    verdict = runc_minimum(make_host(**changes))
    assert not verdict.available and f"runc {RUNC_MINIMUM}" in verdict.detail


def test_upstream_version_reads_what_runc_prints() -> None:
    assert str(upstream_version("1.1.5+ds1")) == "1.1.5"
    assert str(upstream_version("1.2.0-rc.1")) == "1.2.0"
    assert upstream_version("unknown") is None


def test_the_engine_refuses_an_unfixed_runc_before_making_anything(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(HostUnsupported) as refused:
        Engine(EngineConfig(root=root), make_host(runc_version="1.1.5+ds1"))
    assert "1.1.12" in str(refused.value) and FIX in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not root.exists()


@pytest.mark.skipif(shutil.which("dpkg-query") is None or shutil.which("runc") is None,
                    reason="needs a dpkg-installed runc")
def test_the_probe_reads_this_hosts_package_and_its_changelog() -> None:
    runc = shutil.which("runc")
    assert runc is not None
    package, backports = probe_runc_package(runc)
    assert package is not None and package.startswith("runc ")
    changelog = Path("/usr/share/doc/runc/changelog.Debian.gz")
    with gzip.open(changelog, "rt") as text:
        assert (FIX in backports) == (FIX in text.read())

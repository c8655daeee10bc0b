"""The installed dependencies meet pyproject.toml: a raised floor also needs a reinstall.

Every requirement has a floor (>=), and the version installed in this environment is within
its specifier. Extras that are installed on their own (bench) count only where present."""

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
_PROJECT = tomllib.loads(PYPROJECT.read_text())["project"]
RUNTIME = [Requirement(line) for line in _PROJECT["dependencies"]]
EXTRAS = {extra: [Requirement(line) for line in lines]
          for extra, lines in _PROJECT["optional-dependencies"].items()}
# pip installs these with the project for the tests; bench/setup.sh installs bench on its own
REQUIRED_EXTRAS = {"dev"}


def _all() -> list[tuple[str, Requirement]]:
    found = [("runtime", r) for r in RUNTIME]
    for extra, requirements in EXTRAS.items():
        found += [(extra, r) for r in requirements]
    return found


def _installed(name: str) -> Version | None:
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


@pytest.mark.parametrize(("group", "requirement"), _all(), ids=str)
def test_every_requirement_has_a_floor(group: str, requirement: Requirement) -> None:
    assert any(spec.operator in (">=", "==", "~=") for spec in requirement.specifier), \
        f"{group}: {requirement} names no oldest version"


@pytest.mark.parametrize(("group", "requirement"), _all(), ids=str)
def test_the_installed_version_meets_the_floor(group: str, requirement: Requirement) -> None:
    if requirement.marker is not None and not requirement.marker.evaluate():
        pytest.skip(f"{requirement}: not for this platform")
    installed = _installed(requirement.name)
    if installed is None:
        assert group not in {"runtime", *REQUIRED_EXTRAS}, f"{requirement.name} is not installed"
        pytest.skip(f"{requirement.name} ({group} extra) is not installed")
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{requirement.name} {installed} is installed, pyproject.toml asks for {requirement}: "
        f"reinstall (pip install -e '.[dev,bench]')")

"""What starting the CLI loads, checked in a fresh interpreter: the import contract
(pyproject.toml, `lint-imports`) sees the import statements, this sees what actually runs,
so a heavy package pulled in through a third-party module is caught too (issue 18)."""

import json
import subprocess
import sys

import pytest

# the server's packages, and what made the CLI slow before: httpx (~90 ms cold),
# websockets (only process streams need it), pyroute2, FastAPI, uvicorn
HEAVY = ("stockade.engine", "stockade.api", "stockade.network", "stockade.images",
         "stockade.volumes", "stockade.verify", "stockade.runtime", "stockade.host",
         "stockade.policy", "stockade.audit", "stockade.settings", "httpx", "websockets",
         "pyroute2", "fastapi", "uvicorn", "nftables")


def _loaded(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def _within(loaded: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in loaded if any(m == p or m.startswith(p + ".") for p in packages)}


@pytest.mark.parametrize("code", ["import stockade.cli.main",
                                  "from stockade.client import Client"])
def test_the_cli_and_the_client_load_nothing_of_the_server(code: str) -> None:
    loaded = _loaded(code)
    assert "stockade.wire" in loaded  # the probe sees what it should
    assert not _within(loaded, HEAVY)


def test_starting_the_cli_loads_no_models() -> None:
    """pydantic and the spec cost about 65 ms; `--help` and a bad flag need neither, so
    they come with the first command that talks to the daemon or builds a spec."""
    loaded = _loaded("import stockade.cli.main")
    assert "typer" in loaded
    assert not _within(loaded, ("pydantic", "stockade.spec", "stockade.client.client"))

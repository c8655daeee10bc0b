"""Find out whether the bench's own prerequisites are installed; install them if asked."""

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "setup.sh"


def missing() -> list[str]:
    """What setup.sh would install."""
    found = []
    if shutil.which("podman") is None:
        found.append("podman")
    if importlib.util.find_spec("matplotlib") is None:
        found.append("matplotlib")
    return found


def install() -> None:
    """Run setup.sh for this interpreter; a failure is reported, and the suites that need
    what is missing say so in their results."""
    print(f"bench setup: installing {', '.join(missing()) or 'nothing missing; checking'}",
          flush=True)
    proc = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, "PYTHON": sys.executable},
                          check=False)
    if proc.returncode != 0:
        print(f"bench setup: {SCRIPT} failed with exit code {proc.returncode}", file=sys.stderr)
    importlib.invalidate_caches()

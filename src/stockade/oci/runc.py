"""Find the real runc. Imported on every call: nothing but os."""

import os
import sys

CANDIDATES = ("/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc")


class NoRunc(Exception):
    pass


def find_runc() -> str:
    """$STOCKADE_OCI_RUNC, else the first runc installed; never stockade-oci itself."""
    chosen = os.environ.get("STOCKADE_OCI_RUNC")
    candidates = (chosen,) if chosen else CANDIDATES
    for path in candidates:
        if os.access(path, os.X_OK):
            if os.path.realpath(path) == os.path.realpath(sys.argv[0]):
                raise NoRunc(f"{path} is stockade-oci itself; point STOCKADE_OCI_RUNC at runc")
            return path
    raise NoRunc(f"runc not found (looked at {', '.join(candidates)})")

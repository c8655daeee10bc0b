"""`delete`: runc's own, then the container's directory under /run/stockade-oci.

Containers that never got such a directory (the common case) go straight to runc."""

import os
import sys

from stockade.oci import staging
from stockade.oci.argv import UsageError, global_options
from stockade.oci.runc import exec_runc, run_runc


def _directory(argv: list[str], index: int) -> tuple[str, str] | None:
    """(runc root, container id) when this delete names one container we staged."""
    try:
        root = global_options(argv[:index]).root
    except UsageError:
        return None
    ids = [arg for arg in argv[index + 1:] if not arg.startswith("-")]
    if len(ids) != 1 or not staging.valid_id(ids[0]):
        return None
    if not os.path.isdir(staging.container_dir(root, ids[0])):
        return None
    return root, ids[0]


def delete_main(argv: list[str], index: int) -> None:
    staged = _directory(argv, index)
    if staged is None:
        sys.exit(exec_runc(argv))
    root, container_id = staged
    code = run_runc(argv)
    if not os.path.exists(f"{root}/{container_id}/state.json"):
        staging.remove(staging.container_dir(root, container_id))
    sys.exit(code)

"""Check callers' bind mounts against the host-path allowlist."""

import os
from pathlib import Path

from stockade.errors import InvalidSpec
from stockade.spec import BindMount


def checked(mounts: list[BindMount], allowlist: tuple[Path, ...]) -> list[BindMount]:
    """Mounts with host paths resolved; symlinks cannot lead outside the allowlist."""
    result = []
    for mount in mounts:
        real = Path(os.path.realpath(mount.host_path))
        if not any(real == base or base in real.parents for base in allowlist):
            allowed = ", ".join(str(b) for b in allowlist)
            raise InvalidSpec(f"host path {mount.host_path} is outside the allowed ({allowed})")
        if not real.exists():
            raise InvalidSpec(f"host path {mount.host_path} does not exist")
        result.append(mount.model_copy(update={"host_path": str(real)}))
    return result

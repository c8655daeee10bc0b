"""Load Stockade's AppArmor profile into the kernel where AppArmor is enabled."""

import shutil
import subprocess
from pathlib import Path

from stockade.errors import HostUnsupported

PROFILE_NAME = "stockade-default"
PROFILE = Path(__file__).parent / "profiles" / PROFILE_NAME


def _parser() -> str:
    parser = shutil.which("apparmor_parser")
    if parser is None:
        raise HostUnsupported("apparmor_parser not found: install Debian's apparmor package")
    return parser


def compile_profile(output: Path) -> None:
    """Compile without loading (-Q -K), which works on kernels without AppArmor too."""
    proc = subprocess.run([_parser(), "-Q", "-K", "-o", str(output), str(PROFILE)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise HostUnsupported(f"the AppArmor profile does not compile: {proc.stderr.strip()}")


def load_profile() -> None:
    """Replace (or add) the profile in the kernel; only called when AppArmor is enabled."""
    proc = subprocess.run([_parser(), "-r", "-W", str(PROFILE)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise HostUnsupported(f"cannot load the AppArmor profile: {proc.stderr.strip()}")

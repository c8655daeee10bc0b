"""The embedded default image: Debian's static busybox, a shell and coreutils."""

import os
import shutil
import subprocess
from pathlib import Path

from stockade.errors import HostUnsupported
from stockade.images.model import ImageConfig

BUSYBOX = Path("/usr/bin/busybox")
NAME = "busybox"
VCAP_UID = 2000
CONFIG = ImageConfig(
    env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    cmd=("sh",),
    working_dir="/home/vcap",
)
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nvcap:x:2000:2000:vcap:/home/vcap:/bin/sh\n" \
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nvcap:x:2000:\nnogroup:x:65534:\n"
# Parents before children: each mode is set explicitly, whatever the daemon's umask (077).
_DIRS = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
         "etc": 0o755, "root": 0o700, "home": 0o755, "tmp": 0o1777, "var": 0o755,
         "var/tmp": 0o1777, "proc": 0o555, "sys": 0o555, "dev": 0o755, "app": 0o755}


def build_rootfs(target: Path) -> None:
    """Lay out a minimal tree in `target` (owned by container ids, not yet shifted)."""
    if not BUSYBOX.exists():
        raise HostUnsupported(f"{BUSYBOX} missing: install Debian's busybox-static")
    for rel, mode in _DIRS.items():
        (target / rel).mkdir(parents=True, exist_ok=True)
        (target / rel).chmod(mode)
    shutil.copy2(BUSYBOX, target / "bin/busybox")
    (target / "bin/busybox").chmod(0o755)  # never setuid
    for applet in _applets():
        link = target / applet
        if applet != "bin/busybox" and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")
    _write(target / "etc/passwd", _PASSWD, 0o644)
    _write(target / "etc/group", _GROUP, 0o644)
    _write(target / "etc/hosts", "127.0.0.1\tlocalhost\n", 0o644)
    _write(target / "etc/resolv.conf", "", 0o644)
    home = target / "home/vcap"
    home.mkdir(mode=0o755, exist_ok=True)
    home.chmod(0o755)
    os.chown(home, VCAP_UID, VCAP_UID)


def _applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True,
                         check=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _write(path: Path, text: str, mode: int) -> None:
    path.write_text(text)
    path.chmod(mode)

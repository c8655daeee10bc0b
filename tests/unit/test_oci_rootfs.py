"""Reading the mount table and an overlay's layers for the idmapped rootfs."""

import os
from pathlib import Path

import pytest

from stockade.oci.rootfs import mount_at, overlay_layers, shift_unshifted

MOUNTINFO = (
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "300 22 0:50 / /run/c/k8s.io/c1/rootfs rw,relatime - overlay overlay rw,lowerdir=/s/2/fs:"
    "/s/1/fs,upperdir=/s/3/fs,workdir=/s/3/work,index=off\n"
    "301 22 254:0 /data /srv/with\\040space rw - ext4 /dev/vda rw\n"
    "302 300 0:51 / /run/c/k8s.io/c1/rootfs rw - overlay overlay rw,lowerdir+=/a,lowerdir+=/b\n"
)


def test_topmost_mount_at_exact_path() -> None:
    entry = mount_at("/run/c/k8s.io/c1/rootfs", MOUNTINFO)
    assert entry is not None and entry.super_options == "rw,lowerdir+=/a,lowerdir+=/b"
    assert mount_at("/run/c/k8s.io/c1", MOUNTINFO) is None
    spaced = mount_at("/srv/with space", MOUNTINFO)
    assert spaced is not None and spaced.fstype == "ext4"


def test_overlay_layers() -> None:
    assert overlay_layers("rw,lowerdir=/s/2/fs:/s/1/fs,upperdir=/s/3/fs,workdir=/s/3/work,"
                          "index=off") == (["/s/2/fs", "/s/1/fs"], "/s/3/fs", "/s/3/work",
                                           ["index=off"])
    assert overlay_layers("ro,lowerdir+=/a,lowerdir+=/b") == (["/a", "/b"], "", "", [])
    assert overlay_layers("rw,lowerdir=/a\\:b:/c") == (["/a:b", "/c"], "", "", [])


def test_relative_layers_are_not_guessed() -> None:
    assert overlay_layers("rw,lowerdir=l/ABC:l/DEF,upperdir=/u,workdir=/w") is None
    assert overlay_layers("rw,upperdir=/u,workdir=/w") is None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_shift_unshifted_moves_only_container_ids(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "mtab").symlink_to("/proc/mounts")
    tool = upper / "tool"
    tool.write_text("x")
    os.chown(tool, 5, 6)
    tool.chmod(0o4755)
    mine = upper / "mine"
    mine.write_text("y")
    os.chown(mine, 2_000_007, 2_000_007)
    mapping = (0, 2_000_000, 65536)
    assert shift_unshifted(str(upper), mapping, mapping) == 4  # upper, etc, mtab, tool
    owners = {p.name: (p.lstat().st_uid, p.lstat().st_gid) for p in [upper, *upper.rglob("*")]}
    assert owners == {"upper": (2_000_000, 2_000_000), "etc": (2_000_000, 2_000_000),
                      "mtab": (2_000_000, 2_000_000), "tool": (2_000_005, 2_000_006),
                      "mine": (2_000_007, 2_000_007)}
    assert tool.stat().st_mode & 0o7777 == 0o4755  # chown cleared setuid; it is put back
    assert shift_unshifted(str(upper), mapping, mapping) == 0

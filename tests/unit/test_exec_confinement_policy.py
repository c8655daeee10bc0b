"""Writable means not executable (issue 16 part 2), as the pure policy states it: which
directories get a noexec copy, and where those mounts sit in the config."""

from hypothesis import given
from hypothesis import strategies as st

from stockade.policy import BundleContext, IdMap, build_config
from stockade.policy.landlock import DEFAULT_WRITABLE, writable_paths
from stockade.policy.noexec import NOEXEC_OPTIONS, rootfs_dirs
from stockade.spec import ContainerSpec
from tests.hostkit import make_host

_PATHS = st.lists(st.sampled_from(["/srv/data", "/var/cache", "/dev/shm/x", "/app", "/opt/a",
                                   "/opt/a/b", "/tmp"]), max_size=4)
_BINDS = st.lists(st.sampled_from(["/srv/data", "/var/cache", "/app", "/opt/a", "/opt/a/b",
                                   "/tmp"]), max_size=4)


def _covering(mounts: list[dict[str, object]], path: str) -> dict[str, object]:
    """The mount a path lies on: the deepest destination at or above it."""
    above = [m for m in mounts if path == m["destination"]
             or path.startswith(str(m["destination"]).rstrip("/") + "/")]
    return max(above, key=lambda m: len(str(m["destination"])))


def _spec(writable: list[str], rw_binds: list[str]) -> ContainerSpec:
    mounts = [{"host_path": f"/srv/stockade/{i}", "container_path": path, "read_only": False}
              for i, path in enumerate(rw_binds)]
    return ContainerSpec(handle="box", writable_paths=writable, mounts=mounts)


@given(_PATHS, _BINDS)
def test_every_writable_path_is_noexec_one_way_or_another(writable: list[str],
                                                          rw_binds: list[str]) -> None:
    spec = _spec(writable, sorted(set(rw_binds)))
    staged = rootfs_dirs(spec)
    assert staged == sorted(staged)  # parents before children
    binds = {m.container_path for m in spec.mounts}
    for path in writable_paths(spec):
        kernel = path == "/dev" or path.startswith("/dev/")
        assert (path in staged) == (not kernel and path not in binds)
    ctx = BundleContext(rootfs="/r", uid=0, gid=0, idmap=IdMap(host_base=1_000_000),
                        args=("sh",), helpers_dir="/h",
                        noexec_dirs=tuple((p, f"/staged/{i}") for i, p in enumerate(staged)))
    mounts = build_config(spec, make_host(), ctx)["mounts"]
    by_destination = {m["destination"]: m for m in mounts}
    for path in writable_paths(spec):  # staged, bind or kernel mount
        assert "noexec" in _covering(mounts, path)["options"], path  # type: ignore[operator]
    order = [m["destination"] for m in mounts]
    for path in staged:  # a bind inside a staged directory lands on top of it
        assert all(order.index(path) < order.index(b) for b in binds)
        assert by_destination[path]["options"] == list(NOEXEC_OPTIONS)


def test_the_defaults_are_staged_and_app_is_not_writable() -> None:
    assert rootfs_dirs(ContainerSpec(handle="box")) == ["/home", "/tmp", "/var/tmp"]
    assert "/app" not in DEFAULT_WRITABLE


def test_a_read_only_bind_keeps_exec() -> None:
    spec = ContainerSpec(handle="box", mounts=[{"host_path": "/srv/stockade/t",
                                                "container_path": "/tools"}])
    ctx = BundleContext(rootfs="/r", uid=0, gid=0, idmap=IdMap(host_base=1_000_000),
                        args=("sh",), helpers_dir="/h")
    tools = next(m for m in build_config(spec, make_host(), ctx)["mounts"]
                 if m["destination"] == "/tools")
    assert tools["options"] == ["rbind", "nosuid", "nodev", "ro"]

"""Which host paths a foreign bundle may bind, and the options every bind gets."""

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.policy import hostpaths
from stockade.policy.hostpaths import excepted, forced_bind_options, normalise, sensitive_reason

_SENSITIVE = hostpaths.SENSITIVE_HOST_PATHS[1:]


@pytest.mark.parametrize("path, reason", [
    ("/", "it is the host's root"),
    ("/etc", "it is /etc"),
    ("/etc/ssh", "it is under /etc"),
    ("/etc/../etc/./ssh/", "it is under /etc"),
    ("//proc//1", "it is under /proc"),
    ("/var", "it holds /var/lib/kubelet"),
    ("/var/lib", "it holds /var/lib/kubelet"),
    ("/var/lib/kubelet/pods/other-pod/volumes", "it is under /var/lib/kubelet"),
    ("/run", "it holds /run"),
    ("/run/containerd/containerd.sock", "it is or holds a runtime socket under /run"),
    ("/var/run/docker.sock", "it is or holds a runtime socket under /var/run"),
    ("/sys/fs/cgroup", "it is under /sys"),
    ("/dev/kvm", "it is under /dev"),
    ("/boot/vmlinuz", "it is under /boot"),
    ("/root/.ssh", "it is under /root"),
])
def test_sensitive_paths(path: str, reason: str) -> None:
    assert sensitive_reason(path) == reason


@pytest.mark.parametrize("path", ["/srv/data", "/var/lib/containerd/x/hosts", "/tmp/a",
                                  "/etcetera", "/run/containers/storage/u/hosts",
                                  "/var/lib/kubelet-other", "/devices"])
def test_ordinary_paths(path: str) -> None:
    assert sensitive_reason(path) is None


def test_a_directory_under_run_is_sensitive_only_when_it_holds_a_socket() -> None:
    assert sensitive_reason("/run/user/1000/bus-dir") is None
    assert sensitive_reason("/run/user/1000/bus-dir", holds_socket=True) is not None
    assert sensitive_reason("/srv/app.sock") is None  # sockets are runtime ones under /run


def test_the_pods_own_kubelet_directory_only() -> None:
    own = "/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~empty-dir/cache"
    assert sensitive_reason(own, pod_uid="uid-1") is None
    assert sensitive_reason(own, pod_uid="uid-2") is not None
    assert sensitive_reason(own) is not None
    for bad in ("..", ".", "a/b", ""):
        assert sensitive_reason("/var/lib/kubelet/pods", pod_uid=bad) is not None
    assert sensitive_reason("/var/lib/kubelet/pods/uid-1/../uid-2", pod_uid="uid-1") is not None


def test_exceptions_cover_the_named_path_and_below() -> None:
    assert excepted("/etc/ssh/sshd_config", ["/etc/ssh"]) == "/etc/ssh"
    assert excepted("/etc", ["/etc/ssh"]) is None  # naming a child does not allow the parent
    assert excepted("/etc/sshd", ["/etc/ssh"]) is None
    assert excepted("/proc", ["/"]) == "/"


_parts = st.lists(st.sampled_from(["etc", "var", "lib", "kubelet", "run", "x", "..", ".", "",
                                   "proc", "sys", "a.sock"]), max_size=6)


@given(_parts)
def test_sensitivity_follows_normalised_paths(parts: list[str]) -> None:
    path = normalise("/" + "/".join(parts))
    assert path == posixpath.normpath(path) and path.startswith("/")
    # Anything beneath or above a sensitive path is sensitive, whatever dots it had.
    related = [t for t in _SENSITIVE if hostpaths.is_under(path, t) or hostpaths.is_under(t, path)]
    if related or path == "/" or hostpaths.is_under("/run", path):
        assert sensitive_reason("/" + "/".join(parts)) is not None
    # An exception naming the path itself always covers it.
    assert excepted(path, [path]) == path


@given(st.lists(st.sampled_from(["bind", "rbind", "ro", "rw", "suid", "dev", "nosuid", "nodev",
                                 "noexec", "rprivate"])))
def test_bind_options_are_always_nosuid_nodev(options: list[str]) -> None:
    forced = forced_bind_options(options)
    assert "nosuid" in forced and "nodev" in forced
    assert "suid" not in forced and "dev" not in forced
    kept = [o for o in options if o not in ("suid", "dev")]
    assert forced[:len(kept)] == kept  # the bundle's own options stay, in order
    assert forced_bind_options(forced) == forced

"""Host paths a container may not bind, and the options every bind is forced to.

Pure: callers resolve symlinks on the host first and say whether a path under /run is or
holds a unix socket; this module only compares normalised absolute paths. A bind is
sensitive when its source is one of SENSITIVE_HOST_PATHS, lies beneath one, or holds one
(a bind of / exposes all of them).
"""

import posixpath
from collections.abc import Iterable

SENSITIVE_HOST_PATHS = ("/", "/proc", "/sys", "/dev", "/etc", "/root", "/boot",
                        "/var/lib/kubelet")
# Runtime control sockets (containerd, docker, podman, CRI-O, dbus, systemd) live here;
# /var/run is a link to /run on every distribution we run on, so callers resolve it.
RUNTIME_DIRS = ("/run", "/var/run")
# kubelet binds each pod's own volumes, hosts file and termination log from here; only
# the directory of the pod the container belongs to is not sensitive.
KUBELET_PODS = "/var/lib/kubelet/pods"
BIND_FORCED = ("nosuid", "nodev")
_BIND_LOOSE = frozenset({"suid", "dev"})


def normalise(path: str) -> str:
    """`path` made absolute-looking and free of `.`, `..` and repeated slashes."""
    clean = posixpath.normpath("/" + path.lstrip("/"))
    return "/" if clean == "//" else clean


def is_under(path: str, parent: str) -> bool:
    """Is `path` equal to or beneath `parent` (both normalised)?"""
    return parent in ("/", path) or path.startswith(parent + "/")


def _pod_directory(path: str, pod_uid: str | None) -> bool:
    if not pod_uid or "/" in pod_uid or pod_uid in (".", ".."):
        return False
    return is_under(path, f"{KUBELET_PODS}/{pod_uid}")


def sensitive_reason(resolved: str, holds_socket: bool = False,
                     pod_uid: str | None = None) -> str | None:
    """Why binding the host path `resolved` exposes the host, or None when it does not.

    `holds_socket` says the path is a unix socket or a directory holding one; `pod_uid`
    is the Kubernetes pod the container belongs to, whose own kubelet directory is fine.
    """
    path = normalise(resolved)
    if path == "/":
        return "it is the host's root"
    for target in SENSITIVE_HOST_PATHS[1:]:  # "/" holds everything: only itself counts
        if target == "/var/lib/kubelet" and _pod_directory(path, pod_uid):
            continue
        if is_under(path, target):
            return f"it is {target}" if path == target else f"it is under {target}"
        if is_under(target, path):
            return f"it holds {target}"
    for runtime in RUNTIME_DIRS:
        if is_under(runtime, path):
            return f"it holds {runtime}"
        if is_under(path, runtime) and (holds_socket or path.endswith(".sock")):
            return f"it is or holds a runtime socket under {runtime}"
    return None


def excepted(resolved: str, allowed: Iterable[str]) -> str | None:
    """The allowed path that covers `resolved`, if any."""
    path = normalise(resolved)
    return next((normalise(a) for a in allowed if is_under(path, normalise(a))), None)


def forced_bind_options(options: Iterable[str]) -> list[str]:
    """A bind's options with setuid files and device nodes made inert."""
    kept = [o for o in options if o not in _BIND_LOOSE]
    return kept + [o for o in BIND_FORCED if o not in kept]

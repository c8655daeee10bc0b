"""Compile a ContainerSpec and the host's features into a hardened OCI config."""

from typing import Any

from stockade.errors import HostUnsupported, InvalidSpec
from stockade.host import HostFeatures
from stockade.policy import capabilities, devices, landlock, noexec, paths, resources
from stockade.policy.context import BundleContext
from stockade.policy.seccomp import build_seccomp
from stockade.spec import ContainerSpec

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APPARMOR_PROFILE = "stockade-default"  # runtime/profiles/stockade-default
_NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "user", "cgroup")


def build_config(spec: ContainerSpec, host: HostFeatures, ctx: BundleContext) -> dict[str, Any]:
    """The whole config.json; pure: same inputs, same output."""
    _require(spec, host, ctx)
    bounding = capabilities.bounding_set(spec.cap_add) | frozenset(spec.unsafe.cap_add)
    return {
        "ociVersion": OCI_VERSION,
        "root": {"path": ctx.rootfs, "readonly": False},
        "hostname": spec.hostname or spec.handle,
        "mounts": [*paths.base_mounts(),
                   *(noexec.dir_mount(path, staged) for path, staged in ctx.noexec_dirs),
                   *paths.bind_mounts(spec.mounts), *ctx.extra_mounts,
                   landlock.helpers_mount(ctx.helpers_dir)],
        "process": _process(spec, host, ctx, bounding),
        "linux": _linux(spec, host, ctx, bounding),
    }


def _require(spec: ContainerSpec, host: HostFeatures, ctx: BundleContext) -> None:
    if not host.user_namespaces.available and not spec.unsafe.disable_userns:
        raise HostUnsupported(f"user namespaces unavailable: {host.user_namespaces.detail}")
    if not host.seccomp.available and not spec.unsafe.disable_seccomp:
        raise HostUnsupported(f"seccomp unavailable: {host.seccomp.detail}")
    if not ctx.args:
        raise InvalidSpec("no command given and the image has no default command")
    if ctx.uid >= ctx.idmap.size or ctx.gid >= ctx.idmap.size:
        raise InvalidSpec(f"user {ctx.uid}:{ctx.gid} is outside the container's id range")


def _environment(spec: ContainerSpec, ctx: BundleContext) -> list[str]:
    merged = {"PATH": DEFAULT_PATH, "HOSTNAME": spec.handle}
    for item in ctx.image_env:
        key, _, value = item.partition("=")
        merged[key] = value
    merged.update(spec.process.env)
    return [f"{k}={v}" for k, v in merged.items()]


def _process(
    spec: ContainerSpec, host: HostFeatures, ctx: BundleContext, bounding: frozenset[str]
) -> dict[str, Any]:
    process: dict[str, Any] = {
        "terminal": spec.process.terminal,
        "user": {"uid": ctx.uid, "gid": ctx.gid, "additionalGids": list(ctx.additional_gids)},
        "args": landlock.init_command(spec, host, ctx.top_level_dirs, ctx.args),
        "env": _environment(spec, ctx),
        "cwd": ctx.cwd,
        "capabilities": capabilities.process_capabilities(bounding, ctx.uid),
        "rlimits": resources.rlimits(host.nofile_hard),
        "noNewPrivileges": True,
        "oomScoreAdj": resources.CONTAINER_OOM_SCORE_ADJ,
    }
    if host.apparmor.available and not spec.unsafe.disable_mac:
        process["apparmorProfile"] = APPARMOR_PROFILE
    return process


def _namespaces(spec: ContainerSpec) -> list[dict[str, str]]:
    """All new; runc makes the network namespace with the user namespace, and the
    engine wires it before start (runc 1.1 cannot join one owned by the host's)."""
    skip = {"user"} if spec.unsafe.disable_userns else set()
    return [{"type": kind} for kind in _NAMESPACES if kind not in skip]


def _linux(
    spec: ContainerSpec, host: HostFeatures, ctx: BundleContext, bounding: frozenset[str]
) -> dict[str, Any]:
    linux: dict[str, Any] = {
        "namespaces": _namespaces(spec),
        "devices": devices.device_nodes(spec.devices),
        "cgroupsPath": f"/{ctx.cgroup_parent}/{spec.handle}",
        "resources": resources.cgroup_resources(spec.limits, devices.cgroup_rules()),
        "maskedPaths": list(paths.MASKED_PATHS),
        "readonlyPaths": list(paths.READONLY_PATHS),
    }
    if not spec.unsafe.disable_userns:
        idmap = [{"containerID": 0, "hostID": ctx.idmap.host_base, "size": ctx.idmap.size}]
        linux["uidMappings"] = linux["gidMappings"] = idmap
    if not spec.unsafe.disable_seccomp:
        linux["seccomp"] = build_seccomp(bounding, spec.allow_32bit)
    return linux

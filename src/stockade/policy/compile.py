"""Compile a ContainerSpec and the host's features into a hardened OCI config."""

from typing import Any

from stockade.errors import HostUnsupported, InvalidSpec
from stockade.host import HostFeatures
from stockade.policy import capabilities, devices, paths, resources
from stockade.policy.context import BundleContext
from stockade.policy.seccomp import build_seccomp
from stockade.spec import ContainerSpec

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APPARMOR_PROFILE = "stockade-default"
_NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "user", "cgroup")


def build_config(spec: ContainerSpec, host: HostFeatures, ctx: BundleContext) -> dict[str, Any]:
    """The whole config.json; pure: same inputs, same output."""
    _require(host, ctx)
    bounding = capabilities.bounding_set(spec.cap_add)
    return {
        "ociVersion": OCI_VERSION,
        "root": {"path": ctx.rootfs, "readonly": False},
        "hostname": spec.handle,
        "mounts": [*paths.base_mounts(), *paths.bind_mounts(spec.mounts), *ctx.extra_mounts],
        "process": _process(spec, host, ctx, bounding),
        "linux": _linux(spec, host, ctx, bounding),
    }


def _require(host: HostFeatures, ctx: BundleContext) -> None:
    if not host.user_namespaces.available:
        raise HostUnsupported(f"user namespaces unavailable: {host.user_namespaces.detail}")
    if not host.seccomp.available:
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
        "args": list(ctx.args),
        "env": _environment(spec, ctx),
        "cwd": ctx.cwd,
        "capabilities": capabilities.process_capabilities(bounding, ctx.uid),
        "rlimits": resources.rlimits(host.nofile_hard),
        "noNewPrivileges": True,
        "oomScoreAdj": resources.CONTAINER_OOM_SCORE_ADJ,
    }
    if host.apparmor.available:
        process["apparmorProfile"] = APPARMOR_PROFILE
    return process


def _namespaces(ctx: BundleContext) -> list[dict[str, str]]:
    spaces = []
    for kind in _NAMESPACES:
        entry = {"type": kind}
        if kind == "network" and ctx.netns_path is not None:
            entry["path"] = ctx.netns_path
        spaces.append(entry)
    return spaces


def _linux(
    spec: ContainerSpec, host: HostFeatures, ctx: BundleContext, bounding: frozenset[str]
) -> dict[str, Any]:
    idmap = [{"containerID": 0, "hostID": ctx.idmap.host_base, "size": ctx.idmap.size}]
    return {
        "namespaces": _namespaces(ctx),
        "uidMappings": idmap,
        "gidMappings": idmap,
        "devices": devices.device_nodes(spec.devices),
        "cgroupsPath": f"/{ctx.cgroup_parent}/{spec.handle}",
        "resources": resources.cgroup_resources(spec.limits, devices.cgroup_rules()),
        "seccomp": build_seccomp(bounding),
        "maskedPaths": list(paths.MASKED_PATHS),
        "readonlyPaths": list(paths.READONLY_PATHS),
    }

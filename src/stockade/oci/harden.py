"""Merge a foreign bundle's config.json with stockade's policy. Pure: no side effects.

The bundle's own settings are kept wherever they are at least as strict as ours; the
rest is raised to our defaults (the tables in `stockade.policy`). What the node's policy
file lets a named workload keep is reported separately, so every exception is logged.
"""

import copy
from dataclasses import dataclass, field
from typing import Any

from stockade.errors import StockadeError
from stockade.oci.policyfile import ID_RANGE, Allowance, OciPolicy
from stockade.oci.seccompcheck import at_least_as_strict
from stockade.policy import capabilities, devices, hostpaths, paths
from stockade.policy.compile import APPARMOR_PROFILE
from stockade.policy.seccomp import build_seccomp

ANNOTATION = "org.stockade.oci.policy"
_CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
# Namespaces a container must not share with the host (user is handled on its own).
_NAMESPACES = ("pid", "ipc", "uts", "mount", "cgroup", "network")
_KERNEL_FS = frozenset({"sysfs", "cgroup", "cgroup2"})
# CRI sets this on every container of a pod; kubelet's directory for that pod is its own.
POD_UID_ANNOTATION = "io.kubernetes.cri.sandbox-uid"
# Profiles that confine nothing: replaced by ours where AppArmor is enforced.
_NO_APPARMOR = (None, "", "unconfined")
# runc 1.1 appends these to every device cgroup, whatever the bundle says, so a bundle
# that only denies everything still reaches them (and mknod of any node, which the
# dropped CAP_MKNOD and the user namespace refuse anyway).
_RUNC_IMPLICIT: tuple[dict[str, Any], ...] = tuple(
    {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (136, None),
                         (10, 200))
)


class Refused(StockadeError):
    """The bundle asks for something the policy neither grants nor can take away."""


@dataclass(frozen=True)
class JoinedUserns:
    """A sandbox's user namespace that the bundle's other namespaces belong to."""

    path: str
    uid_map: tuple[tuple[int, int, int], ...]
    gid_map: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class HostBind:
    """A bind's source as the host resolves it (symlinks followed, as runc does)."""

    resolved: str
    holds_socket: bool = False  # a unix socket, or a directory holding one


@dataclass(frozen=True)
class BundleFacts:
    """What the caller read from the host about this bundle."""

    container_id: str
    rootfs_uid: int
    rootfs_gid: int
    # Namespace kinds the bundle joins by a path that is the host's own namespace.
    host_joined: frozenset[str] = frozenset()
    # The user namespace of the process whose namespaces the bundle joins (a pod's).
    sandbox_userns: JoinedUserns | None = None
    # The user namespace the bundle itself joins by path, with its mapping as the host
    # sees it (None when there is none or it could not be read).
    joined_userns: JoinedUserns | None = None
    # Each bind mount's source, as written in the bundle, to what the host resolves.
    binds: dict[str, HostBind] = field(default_factory=dict)
    apparmor: bool = False  # the kernel enforces AppArmor
    apparmor_profiles: frozenset[str] = frozenset()  # profiles loaded in the kernel


@dataclass(frozen=True)
class UsernsPlan:
    """The id mapping stockade-oci gave the container, and whether its rootfs, owned by
    host ids 0..65535, needs an idmapped view so that root inside owns it."""

    uid_map: tuple[tuple[int, int, int], ...]
    gid_map: tuple[tuple[int, int, int], ...]
    shift_rootfs: bool


@dataclass
class Hardened:
    config: dict[str, Any]
    changes: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)  # what the policy file allowed
    userns: UsernsPlan | None = None
    allowance: str | None = None


class _Run:
    """The state of one merge: the config being changed and what was done to it."""

    def __init__(self, config: dict[str, Any], policy: OciPolicy, facts: BundleFacts,
                 allowance: Allowance | None) -> None:
        self.result = Hardened(config, allowance=allowance.name if allowance else None)
        self.policy = policy
        self.facts = facts
        self.allowance = allowance
        self.process: dict[str, Any] = config.setdefault("process", {})
        self.linux: dict[str, Any] = config.setdefault("linux", {})

    def change(self, text: str) -> None:
        self.result.changes.append(text)

    def excepted(self, text: str) -> None:
        assert self.allowance is not None
        self.result.exceptions.append(f"{self.allowance.name}: {text}")

    @property
    def extra_caps(self) -> frozenset[str]:
        return frozenset(self.allowance.capabilities) if self.allowance else frozenset()


def harden(config: dict[str, Any], policy: OciPolicy, facts: BundleFacts) -> Hardened:
    """The hardened copy of `config`; raises Refused when policy says no."""
    out = copy.deepcopy(config)
    allowance = policy.allowance_for(facts.container_id, out.get("annotations") or {})
    run = _Run(out, policy, facts, allowance)
    if allowance is not None and allowance.privileged:
        run.excepted("privileged: the bundle is left exactly as it is")
        return run.result
    _refuse_privileged(run)
    _hooks(run)
    _binds(run)
    _lsm_labels(run)
    _namespaces(run)
    run.result.userns = _user_namespace(run)
    _capabilities(run)
    _no_new_privileges(run)
    _seccomp(run)
    _paths(run)
    _devices(run)
    _limits(run)
    _kernel_mounts(run)
    out.setdefault("annotations", {})[ANNOTATION] = allowance.name if allowance else "default"
    return run.result


# --- privileged bundles -----------------------------------------------------------------


def privileged_reasons(config: dict[str, Any]) -> list[str]:
    """Why a bundle counts as asking for privileged mode (empty when it does not)."""
    reasons = []
    caps = (config.get("process") or {}).get("capabilities") or {}
    if any("CAP_SYS_ADMIN" in (caps.get(name) or []) for name in _CAP_SETS):
        reasons.append("CAP_SYS_ADMIN")
    rules = ((config.get("linux") or {}).get("resources") or {}).get("devices") or []
    if any(rule.get("allow") and _is_wildcard(rule) for rule in rules):
        reasons.append("access to every device")
    return reasons


def _is_wildcard(rule: dict[str, Any]) -> bool:
    return (rule.get("type") or "a") == "a" and _any(rule.get("major")) and _any(
        rule.get("minor"))


def _any(number: object) -> bool:
    return number is None or number == -1


def _refuse_privileged(run: _Run) -> None:
    reasons = privileged_reasons(run.result.config)
    if "CAP_SYS_ADMIN" in run.extra_caps and "CAP_SYS_ADMIN" in reasons:
        reasons.remove("CAP_SYS_ADMIN")
    if reasons and run.policy.privileged == "refuse":
        raise Refused(f"container {run.facts.container_id} asks for privileged mode "
                      f"({', '.join(reasons)}) and the policy refuses it")


# --- hooks, binds and LSM labels --------------------------------------------------------


def _hooks(run: _Run) -> None:
    """Hooks are programs the runtime runs as host root; only a named workload keeps them."""
    hooks = run.result.config.get("hooks") or {}
    for kind in sorted(hooks):
        entries = hooks[kind] or []
        if not entries:
            continue
        programs = ", ".join(str(entry.get("path")) for entry in entries)
        if run.allowance is not None and kind in run.allowance.hooks:
            run.excepted(f"runs its {kind} hooks: {programs}")
            continue
        raise Refused(f"the bundle's {kind} hooks ({programs}) are refused: they run with "
                      "the runtime's privileges; a policy exception must name the hook kind")


def _is_bind(mount: dict[str, Any]) -> bool:
    return mount.get("type") == "bind" or bool({"bind", "rbind"} & set(mount.get("options")
                                                                        or []))


def _binds(run: _Run) -> None:
    """Sensitive host paths only where an exception names them; every bind nosuid,nodev."""
    pod_uid = (run.result.config.get("annotations") or {}).get(POD_UID_ANNOTATION)
    loosened = []
    for mount in run.result.config.get("mounts") or []:
        if not _is_bind(mount):
            continue
        source, target = str(mount.get("source") or ""), mount.get("destination")
        host = run.facts.binds.get(source)
        if host is None:
            if not source.startswith("/"):
                raise Refused(f"cannot resolve the bind source {source!r} for {target}")
            host = HostBind(hostpaths.normalise(source))
        reason = hostpaths.sensitive_reason(host.resolved, host.holds_socket, pod_uid)
        if reason is not None:
            shown = source if host.resolved == source else f"{source} (= {host.resolved})"
            allowed = run.allowance.host_paths if run.allowance is not None else ()
            if hostpaths.excepted(host.resolved, allowed) is None:
                raise Refused(f"the bind of host path {shown} at {target} is refused: "
                              f"{reason}; a policy exception must name it in host_paths")
            run.excepted(f"binds host path {shown} at {target} ({reason})")
        options = list(mount.get("options") or [])
        forced = hostpaths.forced_bind_options(options)
        if forced != options:
            mount["options"] = forced
            loosened.append(str(target))
    if loosened:
        run.change(f"binds made nosuid,nodev: {', '.join(loosened)}")


def _lsm_labels(run: _Run) -> None:
    """An unconfined AppArmor profile becomes ours where AppArmor is enforced; SELinux
    labels, which Stockade does not manage, are dropped."""
    profile = run.process.get("apparmorProfile")
    keep = run.allowance is not None and run.allowance.keep_apparmor
    if run.facts.apparmor and profile in _NO_APPARMOR:
        if keep:
            run.excepted(f"keeps AppArmor profile {profile or 'none'}")
        elif APPARMOR_PROFILE not in run.facts.apparmor_profiles:
            raise Refused(f"AppArmor is enforced but the {APPARMOR_PROFILE} profile is not "
                          "loaded: start the stockade daemon once, or load it with "
                          "apparmor_parser -r")
        else:
            run.process["apparmorProfile"] = APPARMOR_PROFILE
            run.change(f"AppArmor profile {APPARMOR_PROFILE} instead of {profile or 'none'}")
    labels = [(holder, key) for holder, key in ((run.process, "selinuxLabel"),
                                                 (run.linux, "mountLabel")) if holder.get(key)]
    if not labels:
        return
    named = ", ".join(f"{key} {holder[key]}" for holder, key in labels)
    if run.allowance is not None and run.allowance.keep_selinux:
        run.excepted(f"keeps SELinux labels: {named}")
        return
    for holder, key in labels:
        del holder[key]
    run.change(f"SELinux labels dropped: {named}")


# --- namespaces -------------------------------------------------------------------------


def _namespaces(run: _Run) -> None:
    """Every namespace but user new or joined, never the host's own."""
    namespaces: list[dict[str, Any]] = run.linux.setdefault("namespaces", [])
    for kind in _NAMESPACES:
        entry = next((ns for ns in namespaces if ns.get("type") == kind), None)
        if entry is not None and kind not in run.facts.host_joined:
            continue
        if run.allowance is not None and kind in run.allowance.host_namespaces:
            run.excepted(f"shares the host's {kind} namespace")
            continue
        if entry is None:
            namespaces.append({"type": kind})
        else:
            entry.pop("path", None)
        run.change(f"new {kind} namespace instead of the host's")


def _mapping(linux: dict[str, Any], key: str) -> tuple[tuple[int, int, int], ...]:
    return tuple((int(m["containerID"]), int(m["hostID"]), int(m["size"]))
                 for m in linux.get(key) or [])


def _as_json(mapping: tuple[tuple[int, int, int], ...]) -> list[dict[str, int]]:
    return [{"containerID": c, "hostID": h, "size": s} for c, h, s in mapping]


def _user_namespace(run: _Run) -> UsernsPlan | None:
    namespaces: list[dict[str, Any]] = run.linux["namespaces"]
    entry = next((ns for ns in namespaces if ns.get("type") == "user"), None)
    if entry is not None and "user" in run.facts.host_joined:
        namespaces.remove(entry)  # joining the host's user namespace is having none
        entry = None
    if entry is not None:
        _check_bundle_userns(run, entry)
        return None
    if run.allowance is not None and run.allowance.no_userns:
        run.excepted("runs without a user namespace")
        return None
    plan = _plan_userns(run)
    entry = {"type": "user"}
    if run.facts.sandbox_userns is not None:
        entry["path"] = run.facts.sandbox_userns.path
    namespaces.append(entry)
    run.linux["uidMappings"] = _as_json(plan.uid_map)
    run.linux["gidMappings"] = _as_json(plan.gid_map)
    _check_ids_fit(run, plan)
    where = "the pod's user namespace" if "path" in entry else "a new user namespace"
    run.change(f"{where}: container root is host uid {plan.uid_map[0][1]}")
    return plan


def _check_bundle_userns(run: _Run, entry: dict[str, Any]) -> None:
    """The orchestrator made or joined its own user namespace; keep it unless its
    mapping reaches host root or ids outside the policy's host range."""
    path = entry.get("path")
    if not path:
        _check_mapping(run, _mapping(run.linux, "uidMappings"),
                       _mapping(run.linux, "gidMappings"), "the bundle's user namespace")
        return
    joined = run.facts.joined_userns
    if joined is None or joined.path != path:
        raise Refused(f"cannot read the id mapping of the user namespace {path} the bundle "
                      "joins")
    _check_mapping(run, joined.uid_map, joined.gid_map, f"the joined user namespace {path}")
    # runc 1.1 also wants the mapping written in the bundle and uses it for ownership.
    declared = _mapping(run.linux, "uidMappings"), _mapping(run.linux, "gidMappings")
    if any(declared):
        _check_mapping(run, *declared, "the bundle's user namespace")


def mapping_problem(uid_map: tuple[tuple[int, int, int], ...],
                    gid_map: tuple[tuple[int, int, int], ...], policy: OciPolicy) -> str | None:
    """What is wrong with a user namespace's mapping under `policy`, or None."""
    if not uid_map or not gid_map:
        return "has no id mappings"
    for kind, mapping in (("uid", uid_map), ("gid", gid_map)):
        for container, host, size in mapping:
            if container == 0 and host == 0:
                return f"maps root inside to host root ({kind} 0 to host id 0)"
            if host < policy.min_host_id:
                return (f"maps container {kind}s to host id {host}, below the policy's "
                        f"minimum {policy.min_host_id}")
            if host + size - 1 > policy.max_host_id:
                return (f"maps container {kind}s up to host id {host + size - 1}, above "
                        f"the policy's maximum {policy.max_host_id}")
    return None


def _check_mapping(run: _Run, uid_map: tuple[tuple[int, int, int], ...],
                   gid_map: tuple[tuple[int, int, int], ...], what: str) -> None:
    problem = mapping_problem(uid_map, gid_map, run.policy)
    if problem is None:
        return
    if run.allowance is not None and run.allowance.no_userns:
        run.excepted(f"{what} {problem}")
        return
    raise Refused(f"{what} {problem}")


def _plan_userns(run: _Run) -> UsernsPlan:
    facts, policy = run.facts, run.policy
    sandbox = facts.sandbox_userns
    if sandbox is not None:
        problem = mapping_problem(sandbox.uid_map, sandbox.gid_map, policy)
        if problem is not None:
            raise Refused(f"the pod's user namespace {problem}")
        shifted = _owned_by(facts, sandbox.uid_map, sandbox.gid_map)
        return UsernsPlan(sandbox.uid_map, sandbox.gid_map, shift_rootfs=not shifted)
    if facts.rootfs_uid >= policy.min_host_id and facts.rootfs_gid >= policy.min_host_id:
        # Already shifted for a user namespace (podman --uidmap, a remapping snapshotter):
        # root inside is the rootfs owner.
        return UsernsPlan(((0, facts.rootfs_uid, ID_RANGE),), ((0, facts.rootfs_gid, ID_RANGE),),
                          shift_rootfs=False)
    base = ((0, policy.id_base, ID_RANGE),)
    return UsernsPlan(base, base, shift_rootfs=True)


def _owned_by(facts: BundleFacts, uid_map: tuple[tuple[int, int, int], ...],
              gid_map: tuple[tuple[int, int, int], ...]) -> bool:
    """Is the rootfs owned by container root under these mappings?"""
    return (any(c == 0 and h == facts.rootfs_uid for c, h, _ in uid_map)
            and any(c == 0 and h == facts.rootfs_gid for c, h, _ in gid_map))


def _check_ids_fit(run: _Run, plan: UsernsPlan) -> None:
    user = run.process.get("user") or {}
    ids = [("uid", user.get("uid", 0), plan.uid_map), ("gid", user.get("gid", 0), plan.gid_map)]
    ids += [("gid", gid, plan.gid_map) for gid in user.get("additionalGids") or []]
    for kind, value, mapping in ids:
        if not any(c <= value < c + s for c, _, s in mapping):
            raise Refused(f"the process {kind} {value} is outside the container's id range")


# --- process ----------------------------------------------------------------------------


def _capabilities(run: _Run) -> None:
    allowed = capabilities.DEFAULT_BOUNDING | run.extra_caps
    caps = run.process.get("capabilities")
    if caps is None:
        # runc leaves every capability in place when the object is missing.
        uid = (run.process.get("user") or {}).get("uid", 0)
        run.process["capabilities"] = capabilities.process_capabilities(
            capabilities.DEFAULT_BOUNDING, uid)
        run.change("no capabilities given: stockade's default set")
        return
    dropped: set[str] = set()
    for name in _CAP_SETS:
        held = caps.get(name) or []
        dropped.update(cap for cap in held if cap not in allowed)
        caps[name] = [cap for cap in held if cap in allowed]
    if dropped:
        run.change(f"dropped capabilities {', '.join(sorted(dropped))}")
    kept = {cap for name in _CAP_SETS for cap in caps[name]} - capabilities.DEFAULT_BOUNDING
    if kept:
        run.excepted(f"keeps capabilities {', '.join(sorted(kept))}")


def _no_new_privileges(run: _Run) -> None:
    if run.process.get("noNewPrivileges") is not True:
        run.process["noNewPrivileges"] = True
        run.change("no_new_privileges set")


def _seccomp(run: _Run) -> None:
    bounding = frozenset(run.process["capabilities"].get("bounding") or [])
    ours = build_seccomp(bounding)
    theirs = run.linux.get("seccomp")
    if at_least_as_strict(theirs, ours):
        return
    if run.allowance is not None and run.allowance.keep_seccomp:
        run.excepted("keeps its own seccomp profile" if theirs else "runs without seccomp")
        return
    run.linux["seccomp"] = ours
    run.change("stockade's seccomp profile replaces " +
               ("the bundle's weaker one" if theirs else "none"))


# --- filesystem and devices -------------------------------------------------------------


def _paths(run: _Run) -> None:
    for key, ours in (("maskedPaths", paths.MASKED_PATHS), ("readonlyPaths", paths.READONLY_PATHS)):
        have: list[str] = run.linux.setdefault(key, [])
        missing = [path for path in ours if path not in have]
        if missing:
            have.extend(missing)
            run.change(f"{key}: added {len(missing)}")


def _kernel_mounts(run: _Run) -> None:
    for mount in run.result.config.get("mounts") or []:
        if mount.get("type") not in _KERNEL_FS:
            continue
        options = [o for o in mount.get("options") or [] if o != "rw"]
        if "ro" not in options:
            mount["options"] = [*options, "ro"]
            run.change(f"{mount.get('destination')} mounted read-only")


def _rule_covers(rule: dict[str, Any], dev: devices.CharDevice, deny: bool) -> bool:
    """Does `rule` apply to all of `dev` (an allow) or to any part of it (a deny)?"""
    if (rule.get("type") or "a") not in ("a", "c"):
        return False
    if not _any(rule.get("major")) and rule.get("major") != dev.major:
        return False
    minor = rule.get("minor")
    if dev.minor is None:  # every minor of the major: an allow must cover them all
        return deny or _any(minor)
    return _any(minor) or minor == dev.minor


def _bundle_allows(rules: list[dict[str, Any]], dev: devices.CharDevice, access: str) -> bool:
    """runc's order: later rules win; a cgroup starts open until a rule closes it."""
    allowed = True
    for rule in rules:
        allow = bool(rule.get("allow"))
        if access in (rule.get("access") or "rwm") and _rule_covers(rule, dev, deny=not allow):
            allowed = allow
    return allowed


def _devices(run: _Run) -> None:
    resources = run.linux.setdefault("resources", {})
    theirs: list[dict[str, Any]] = resources.get("devices") or []
    rules: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    for dev in devices.ALLOWED:
        effective = [*theirs, *_RUNC_IMPLICIT]
        access = "".join(a for a in "rwm" if _bundle_allows(effective, dev, a))
        if access:
            rule: dict[str, Any] = {"allow": True, "type": "c", "major": dev.major,
                                    "access": access}
            if dev.minor is not None:
                rule["minor"] = dev.minor
            rules.append(rule)
    if rules != theirs:
        resources["devices"] = rules
        run.change("device cgroup: deny all but stockade's allowlist")
    nodes = run.linux.get("devices") or []
    kept = [node for node in nodes if _node_allowed(node)]
    if len(kept) != len(nodes):
        run.linux["devices"] = kept
        gone = sorted(str(n.get("path")) for n in nodes if n not in kept)
        run.change(f"device nodes removed: {', '.join(gone)}")


def _node_allowed(node: dict[str, Any]) -> bool:
    if node.get("type") not in ("c", "u"):
        return False
    return any(dev.major == node.get("major") and dev.minor in (None, node.get("minor"))
               for dev in devices.ALLOWED)


def _limits(run: _Run) -> None:
    resources = run.linux.setdefault("resources", {})
    memory = resources.setdefault("memory", {})
    if not isinstance(memory.get("limit"), int) or memory["limit"] <= 0:
        memory["limit"] = run.policy.memory
        memory["swap"] = run.policy.memory  # no swap on top, as for stockade's own
        run.change(f"memory limit {run.policy.memory} bytes")
    swap = memory.get("swap")
    # OCI's swap is memory plus swap; -1, 0 or unset leave swap unbounded on top of the
    # limit, and a larger value adds swap. runc itself refuses a value below the limit.
    if not isinstance(swap, int) or swap <= 0 or swap > memory["limit"]:
        memory["swap"] = memory["limit"]
        run.change(f"swap pinned to the memory limit (was {swap})")
    pids = resources.setdefault("pids", {})
    if not isinstance(pids.get("limit"), int) or pids["limit"] <= 0:
        pids["limit"] = run.policy.pids
        run.change(f"pids limit {run.policy.pids}")

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
from stockade.policy import capabilities, devices, paths
from stockade.policy.seccomp import build_seccomp

ANNOTATION = "org.stockade.oci.policy"
_CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
# Namespaces a container must not share with the host (user is handled on its own).
_NAMESPACES = ("pid", "ipc", "uts", "mount", "cgroup", "network")
_KERNEL_FS = frozenset({"sysfs", "cgroup", "cgroup2"})
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
class BundleFacts:
    """What the caller read from the host about this bundle."""

    container_id: str
    rootfs_uid: int
    rootfs_gid: int
    # Namespace kinds the bundle joins by a path that is the host's own namespace.
    host_joined: frozenset[str] = frozenset()
    # The user namespace of the process whose namespaces the bundle joins (a pod's).
    sandbox_userns: JoinedUserns | None = None


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


def _lowest_host_id(*mappings: tuple[tuple[int, int, int], ...]) -> int | None:
    hosts = [host for mapping in mappings for _, host, _ in mapping]
    return min(hosts) if hosts else None


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
    """The orchestrator made its own user namespace; keep it unless it maps to host root."""
    if entry.get("path"):
        return
    low = _lowest_host_id(_mapping(run.linux, "uidMappings"), _mapping(run.linux, "gidMappings"))
    if low is None:
        raise Refused("the bundle's user namespace has no id mappings")
    if low < run.policy.min_host_id:
        if run.allowance is not None and run.allowance.no_userns:
            run.excepted(f"its user namespace maps to host id {low}")
            return
        raise Refused(f"the bundle's user namespace maps container ids to host id {low}, "
                      f"below the policy's minimum {run.policy.min_host_id}")


def _plan_userns(run: _Run) -> UsernsPlan:
    facts, policy = run.facts, run.policy
    sandbox = facts.sandbox_userns
    if sandbox is not None:
        low = _lowest_host_id(sandbox.uid_map, sandbox.gid_map)
        if low is None or low < policy.min_host_id:
            raise Refused(f"the pod's user namespace maps to host id {low}, below the "
                          f"policy's minimum {policy.min_host_id}")
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
    pids = resources.setdefault("pids", {})
    if not isinstance(pids.get("limit"), int) or pids["limit"] <= 0:
        pids["limit"] = run.policy.pids
        run.change(f"pids limit {run.policy.pids}")

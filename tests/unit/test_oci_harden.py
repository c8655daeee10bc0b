"""The pure merge of a foreign bundle with stockade's policy."""

import copy
import json
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.oci.harden import (
    ANNOTATION,
    BundleFacts,
    HostBind,
    JoinedUserns,
    Refused,
    harden,
    privileged_reasons,
)
from stockade.oci.policyfile import Allowance, OciPolicy
from stockade.oci.seccompcheck import at_least_as_strict
from stockade.policy import DEFAULT_BOUNDING
from stockade.policy import paths as policy_paths
from stockade.policy.seccomp import build_seccomp
from stockade.spec.container import CAPABILITY_NAMES

DATA = Path(__file__).parent / "data" / "oci"
CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
ROOT_OWNED = BundleFacts(container_id="c1", rootfs_uid=0, rootfs_gid=0)


def bundle(name: str = "containerd-default") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return loaded


def privileged() -> dict[str, Any]:
    """What `ctr run --privileged` and CRI privileged pods hand a runtime."""
    config = bundle()
    caps = list(CAPABILITY_NAMES)
    config["process"]["capabilities"] = {name: caps for name in CAP_SETS}
    config["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    config["linux"]["devices"] = [
        {"path": "/dev/vda", "type": "b", "major": 254, "minor": 0},
        {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
    ]
    config["linux"]["maskedPaths"] = []
    config["linux"]["readonlyPaths"] = []
    return config


def held(config: dict[str, Any]) -> set[str]:
    caps = config["process"]["capabilities"]
    return {cap for name in CAP_SETS for cap in caps.get(name) or []}


def test_containerd_default_gets_every_layer() -> None:
    result = harden(bundle(), OciPolicy(), ROOT_OWNED)
    linux, process = result.config["linux"], result.config["process"]
    kinds = {ns["type"] for ns in linux["namespaces"]}
    assert kinds == {"pid", "ipc", "uts", "mount", "network", "cgroup", "user"}
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": 2_000_000, "size": 65536}]
    assert linux["gidMappings"] == linux["uidMappings"]
    assert held(result.config) <= DEFAULT_BOUNDING
    assert process["noNewPrivileges"] is True
    assert linux["seccomp"] == build_seccomp(frozenset(process["capabilities"]["bounding"]))
    assert set(policy_paths.MASKED_PATHS) <= set(linux["maskedPaths"])
    assert set(policy_paths.READONLY_PATHS) <= set(linux["readonlyPaths"])
    assert linux["resources"]["memory"] == {"limit": 256 << 20, "swap": 256 << 20}
    assert linux["resources"]["pids"] == {"limit": 1024}
    assert result.userns is not None and result.userns.shift_rootfs
    assert result.exceptions == []
    assert result.config["annotations"][ANNOTATION] == "default"


def test_input_is_not_modified() -> None:
    config = bundle()
    before = copy.deepcopy(config)
    harden(config, OciPolicy(), ROOT_OWNED)
    assert config == before


def test_podmans_weaker_seccomp_is_replaced() -> None:
    config = bundle("podman-default")
    assert not at_least_as_strict(config["linux"]["seccomp"], build_seccomp(DEFAULT_BOUNDING))
    result = harden(config, OciPolicy(), ROOT_OWNED)
    assert "stockade's seccomp profile replaces the bundle's weaker one" in result.changes


def test_a_stricter_seccomp_profile_is_kept() -> None:
    strict = {"defaultAction": "SCMP_ACT_KILL_PROCESS",
              "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}
    config = bundle()
    config["linux"]["seccomp"] = strict
    assert harden(config, OciPolicy(), ROOT_OWNED).config["linux"]["seccomp"] == strict


def test_a_profile_allowing_one_more_syscall_is_replaced() -> None:
    ours = build_seccomp(DEFAULT_BOUNDING)
    loose = copy.deepcopy(ours)
    cast(list[object], loose["syscalls"]).append({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW"})
    config = bundle()
    config["linux"]["seccomp"] = loose
    assert harden(config, OciPolicy(), ROOT_OWNED).config["linux"]["seccomp"] == ours
    notify = copy.deepcopy(ours)
    cast(list[object], notify["syscalls"]).append({"names": ["mount"], "action": "SCMP_ACT_NOTIFY"})
    assert not at_least_as_strict(notify, ours)
    spec_allow = {**ours, "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}
    assert not at_least_as_strict(spec_allow, ours)


def test_stricter_bundle_settings_are_kept() -> None:
    config = bundle()
    config["process"]["capabilities"] = {name: ["CAP_KILL"] for name in CAP_SETS}
    config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    config["linux"]["resources"]["pids"] = {"limit": 50}
    config["linux"]["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}]
    result = harden(config, OciPolicy(), ROOT_OWNED)
    linux = result.config["linux"]
    assert held(result.config) == {"CAP_KILL"}
    assert linux["resources"]["memory"] == {"limit": 64 << 20, "swap": 64 << 20}
    assert linux["resources"]["pids"] == {"limit": 50}
    rules = {(r.get("major"), r.get("minor")): r["access"] for r in linux["resources"]["devices"]
             if r["allow"]}
    assert rules[(1, 3)] == "rwm"  # runc adds /dev/null rwm to every cgroup anyway
    assert (4, 0) not in rules and (10, 229) not in rules  # tty0 and fuse: the bundle denied


def test_privileged_bundle_is_hardened_by_default() -> None:
    config = privileged()
    assert privileged_reasons(config) == ["CAP_SYS_ADMIN", "access to every device"]
    result = harden(config, OciPolicy(), ROOT_OWNED)
    linux = result.config["linux"]
    assert held(result.config) == set(DEFAULT_BOUNDING)
    assert [n["path"] for n in linux["devices"]] == ["/dev/fuse"]
    assert linux["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    assert all(r.get("type") == "c" for r in linux["resources"]["devices"][1:])
    assert privileged_reasons(result.config) == []
    assert set(policy_paths.MASKED_PATHS) <= set(linux["maskedPaths"])


def test_privileged_bundle_is_refused_when_the_policy_says_so() -> None:
    with pytest.raises(Refused, match="privileged"):
        harden(privileged(), OciPolicy(privileged="refuse"), ROOT_OWNED)
    harden(bundle(), OciPolicy(privileged="refuse"), ROOT_OWNED)  # ordinary ones still run


def test_named_privileged_exception_leaves_the_bundle_and_is_reported() -> None:
    allowance = Allowance(name="node-agent", ids=["agent-*"], privileged=True)
    policy = OciPolicy(privileged="refuse", exceptions=(allowance,))
    config = privileged()
    result = harden(config, policy, BundleFacts("agent-7", 0, 0))
    assert result.config == config
    assert result.exceptions == ["node-agent: privileged: the bundle is left exactly as it is"]
    with pytest.raises(Refused):
        harden(config, policy, BundleFacts("other", 0, 0))


def test_capability_exception_keeps_only_what_it_names() -> None:
    allowance = Allowance(name="pinger", annotations={"io.kubernetes.cri.container-name": "ping"},
                          capabilities=["NET_RAW"])
    config = bundle()
    config["annotations"] = {"io.kubernetes.cri.container-name": "ping"}
    result = harden(config, OciPolicy(exceptions=(allowance,)), ROOT_OWNED)
    assert held(result.config) == set(DEFAULT_BOUNDING) | {"CAP_NET_RAW"}
    assert result.exceptions == ["pinger: keeps capabilities CAP_NET_RAW"]
    assert result.allowance == "pinger"
    socket_families = [rule["args"][0]["value"] for rule in result.config["linux"]["seccomp"]
                       ["syscalls"] if rule["names"] == ["socket"]]
    assert 17 in socket_families  # AF_PACKET follows CAP_NET_RAW in our profile


def test_host_namespaces_are_replaced_unless_excepted() -> None:
    config = bundle()
    config["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid", "path": "/proc/1/ns/pid"}]
    facts = BundleFacts("c1", 0, 0, host_joined=frozenset({"pid"}))
    result = harden(config, OciPolicy(), facts)
    spaces = {ns["type"]: ns for ns in result.config["linux"]["namespaces"]}
    assert spaces["pid"] == {"type": "pid"}
    assert {"network", "ipc", "uts", "cgroup", "user"} <= set(spaces)
    allowance = Allowance(name="cni", ids=["c1"], host_namespaces=["network", "pid"])
    result = harden(config, OciPolicy(exceptions=(allowance,)), facts)
    spaces = {ns["type"]: ns for ns in result.config["linux"]["namespaces"]}
    assert "network" not in spaces and spaces["pid"]["path"] == "/proc/1/ns/pid"
    assert sorted(result.exceptions) == ["cni: shares the host's network namespace",
                                         "cni: shares the host's pid namespace"]


def test_pre_shifted_rootfs_maps_root_to_its_owner() -> None:
    result = harden(bundle(), OciPolicy(), BundleFacts("c1", 3_000_000, 3_000_000))
    assert result.config["linux"]["uidMappings"][0]["hostID"] == 3_000_000
    assert result.userns is not None and not result.userns.shift_rootfs


def test_bundle_user_namespace_kept_or_refused() -> None:
    config = bundle()
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100_000, "size": 65536}]
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100_000, "size": 65536}]
    result = harden(config, OciPolicy(), ROOT_OWNED)
    assert result.userns is None and result.config["linux"]["uidMappings"][0]["hostID"] == 100_000
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    with pytest.raises(Refused, match="host id 0"):
        harden(config, OciPolicy(), ROOT_OWNED)


def test_pod_containers_join_the_sandbox_user_namespace() -> None:
    sandbox = JoinedUserns("/proc/42/ns/user", ((0, 2_000_000, 65536),), ((0, 2_000_000, 65536),))
    config = bundle()
    config["linux"]["namespaces"] = [{"type": "ipc", "path": "/proc/42/ns/ipc"}, {"type": "mount"}]
    result = harden(config, OciPolicy(), BundleFacts("c1", 0, 0, sandbox_userns=sandbox))
    user = [ns for ns in result.config["linux"]["namespaces"] if ns["type"] == "user"]
    assert user == [{"type": "user", "path": "/proc/42/ns/user"}]
    assert result.userns is not None and result.userns.shift_rootfs


def test_user_outside_the_id_range_is_refused() -> None:
    config = bundle()
    config["process"]["user"] = {"uid": 70000, "gid": 0}
    with pytest.raises(Refused, match="uid 70000"):
        harden(config, OciPolicy(), ROOT_OWNED)


def test_missing_capabilities_object_means_the_default_not_all() -> None:
    config = bundle()
    del config["process"]["capabilities"]
    result = harden(config, OciPolicy(), ROOT_OWNED)
    assert set(result.config["process"]["capabilities"]["bounding"]) == DEFAULT_BOUNDING


def test_sysfs_is_forced_read_only() -> None:
    config = bundle()
    sysfs = next(m for m in config["mounts"] if m["type"] == "sysfs")
    sysfs["options"] = ["nosuid", "rw"]
    result = harden(config, OciPolicy(), ROOT_OWNED)
    sysfs = next(m for m in result.config["mounts"] if m["type"] == "sysfs")
    assert "ro" in sysfs["options"] and "rw" not in sysfs["options"]


# --- properties over arbitrary bundles ----------------------------------------------------

_caps = st.lists(st.sampled_from(CAPABILITY_NAMES), max_size=8, unique=True)
_device_rules = st.lists(st.fixed_dictionaries(
    {"allow": st.booleans(), "access": st.sampled_from(["r", "rw", "rwm", "m"])},
    optional={"type": st.sampled_from(["a", "c", "b"]), "major": st.sampled_from([1, 5, 10, 136]),
              "minor": st.sampled_from([3, 5, 200, 229])}), max_size=5)
_seccomp = st.sampled_from([None, "ours", "podman", "allow-all"])
_namespaces = st.lists(st.sampled_from(["pid", "ipc", "uts", "mount", "network", "cgroup"]),
                       unique=True)


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    config = bundle()
    config["process"]["capabilities"] = {name: draw(_caps) for name in CAP_SETS}
    if draw(st.booleans()):
        config["process"]["noNewPrivileges"] = draw(st.booleans())
    config["linux"]["resources"]["devices"] = draw(_device_rules)
    config["linux"]["namespaces"] = [{"type": kind} for kind in draw(_namespaces)]
    config["linux"]["maskedPaths"] = draw(st.lists(st.sampled_from(
        [*policy_paths.MASKED_PATHS, "/proc/x"]), unique=True))
    memory = draw(st.one_of(st.none(), st.integers(min_value=-1, max_value=1 << 33)))
    if memory is not None:
        config["linux"]["resources"]["memory"] = {"limit": memory}
        swap = draw(st.one_of(st.none(), st.sampled_from([-1, 0]), st.integers(
            min_value=max(memory, 1), max_value=1 << 34)))
        if swap is not None:
            config["linux"]["resources"]["memory"]["swap"] = swap
    config["mounts"] += [{"destination": f"/b{n}", "type": "bind", "source": f"/srv/{n}",
                          "options": options} for n, options in enumerate(draw(st.lists(
                              st.lists(st.sampled_from(["rbind", "suid", "dev", "ro",
                                                        "nosuid"]), max_size=4), max_size=2)))]
    choice = draw(_seccomp)
    profiles = {"ours": build_seccomp(DEFAULT_BOUNDING),
                "podman": bundle("podman-default")["linux"]["seccomp"],
                "allow-all": {"defaultAction": "SCMP_ACT_ALLOW"}}
    if choice is not None:
        config["linux"]["seccomp"] = profiles[choice]
    return config


@settings(max_examples=150, deadline=None)
@given(bundles())
def test_every_bundle_ends_at_least_as_strict_as_the_policy(config: dict[str, Any]) -> None:
    result = harden(config, OciPolicy(), ROOT_OWNED)
    out = result.config
    assert held(out) <= DEFAULT_BOUNDING
    for name in CAP_SETS:  # never a capability the bundle did not ask for
        assert set(out["process"]["capabilities"][name]) <= set(
            config["process"]["capabilities"][name])
    assert out["process"]["noNewPrivileges"] is True
    assert {ns["type"] for ns in out["linux"]["namespaces"]} >= {
        "pid", "ipc", "uts", "mount", "network", "cgroup", "user"}
    bounding = frozenset(out["process"]["capabilities"]["bounding"])
    assert at_least_as_strict(out["linux"]["seccomp"], build_seccomp(bounding))
    assert set(policy_paths.MASKED_PATHS) <= set(out["linux"]["maskedPaths"])
    assert privileged_reasons(out) == []
    limit = out["linux"]["resources"]["memory"]["limit"]
    given_limit = (config["linux"]["resources"].get("memory") or {}).get("limit")
    assert limit == (given_limit if isinstance(given_limit, int) and given_limit > 0
                     else 256 << 20)
    assert out["linux"]["resources"]["memory"]["swap"] == limit
    for mount in out["mounts"]:
        if mount["type"] == "bind":
            assert {"nosuid", "nodev"} <= set(mount["options"])
            assert not {"suid", "dev"} & set(mount["options"])
    assert result.exceptions == []


@settings(max_examples=100, deadline=None)
@given(bundles())
def test_hardening_twice_changes_nothing_more(config: dict[str, Any]) -> None:
    once = harden(config, OciPolicy(), ROOT_OWNED)
    twice = harden(once.config, OciPolicy(), ROOT_OWNED)
    assert twice.config == once.config
    assert twice.changes == []


# --- binds, hooks, LSM labels, swap, joined user namespaces (issue 16) --------------------


def with_bind(source: str, target: str = "/data", options: list[str] | None = None,
              config: dict[str, Any] | None = None) -> dict[str, Any]:
    config = config or bundle()
    config["mounts"].append({"destination": target, "type": "bind", "source": source,
                             "options": options if options is not None else ["rbind", "rw"]})
    return config


def binds_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in config["mounts"] if m["type"] == "bind" or "rbind" in m["options"]]


def test_every_bind_is_nosuid_nodev() -> None:
    config = with_bind("/srv/data", options=["rbind", "suid", "dev", "rw"],
                       config=bundle("podman-default"))
    result = harden(config, OciPolicy(), ROOT_OWNED)
    binds = binds_of(result.config)
    assert len(binds) == 5
    for mount in binds:
        assert {"nosuid", "nodev"} <= set(mount["options"]), mount
        assert not {"suid", "dev"} & set(mount["options"]), mount
    data = next(m for m in binds if m["destination"] == "/data")
    assert data["options"] == ["rbind", "rw", "nosuid", "nodev"]
    assert any(c.startswith("binds made nosuid,nodev: ") and "/data" in c
               for c in result.changes)
    assert result.exceptions == []


@pytest.mark.parametrize("source", ["/", "/etc", "/etc/ssh", "/proc/1/root", "/sys/fs/cgroup",
                                    "/dev", "/root", "/boot", "/var", "/var/lib/kubelet",
                                    "/var/lib/kubelet/pods/p1/volumes", "/run",
                                    "/run/containerd/containerd.sock", "/var/run/docker.sock",
                                    "/srv/../etc"])
def test_sensitive_binds_are_refused(source: str) -> None:
    with pytest.raises(Refused, match=r"bind of host path .* is refused: it "):
        harden(with_bind(source), OciPolicy(), ROOT_OWNED)


def test_bind_sources_are_judged_as_the_host_resolves_them() -> None:
    facts = BundleFacts("c1", 0, 0, binds={"/srv/link": HostBind("/etc"),
                                           "/run/agent": HostBind("/run/agent", True),
                                           "rel": HostBind("/srv/bundle/rel")})
    with pytest.raises(Refused, match=r"/srv/link \(= /etc\)"):
        harden(with_bind("/srv/link"), OciPolicy(), facts)
    with pytest.raises(Refused, match="runtime socket"):
        harden(with_bind("/run/agent"), OciPolicy(), facts)
    harden(with_bind("rel"), OciPolicy(), facts)  # resolved inside the bundle: fine
    with pytest.raises(Refused, match="cannot resolve the bind source 'other'"):
        harden(with_bind("other"), OciPolicy(), facts)


def test_an_exception_names_the_sensitive_paths_it_allows() -> None:
    allowance = Allowance(name="sshd-conf", ids=["c1"], host_paths=["/etc/ssh/"])
    policy = OciPolicy(exceptions=(allowance,))
    result = harden(with_bind("/etc/ssh/sshd_config", "/cfg"), policy, ROOT_OWNED)
    assert result.exceptions == ["sshd-conf: binds host path /etc/ssh/sshd_config at /cfg "
                                 "(it is under /etc)"]
    cfg = next(m for m in result.config["mounts"] if m["destination"] == "/cfg")
    assert {"nosuid", "nodev"} <= set(cfg["options"])  # an exception keeps the path only
    with pytest.raises(Refused, match="it is /etc"):
        harden(with_bind("/etc"), policy, ROOT_OWNED)  # the parent is not named
    with pytest.raises(Refused):
        harden(with_bind("/etc/ssh"), policy, BundleFacts("c2", 0, 0))  # another workload


def test_a_pod_may_bind_its_own_kubelet_directory() -> None:
    own = "/var/lib/kubelet/pods/uid-1/containers/app/0a1b"
    config = with_bind(own, "/dev/termination-log")
    config["annotations"] = {"io.kubernetes.cri.sandbox-uid": "uid-1"}
    assert harden(config, OciPolicy(), ROOT_OWNED).exceptions == []
    config["annotations"] = {"io.kubernetes.cri.sandbox-uid": "uid-2"}
    with pytest.raises(Refused, match="under /var/lib/kubelet"):
        harden(config, OciPolicy(), ROOT_OWNED)


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer",
                                  "startContainer", "poststart", "poststop"])
def test_hooks_are_refused_unless_their_kind_is_excepted(kind: str) -> None:
    config = bundle()
    config["hooks"] = {kind: [{"path": "/usr/bin/hook", "args": ["hook"]}]}
    with pytest.raises(Refused, match=f"{kind} hooks \\(/usr/bin/hook\\) are refused"):
        harden(config, OciPolicy(), ROOT_OWNED)
    other = "poststop" if kind != "poststop" else "prestart"
    with pytest.raises(Refused):
        harden(config, OciPolicy(exceptions=(Allowance(name="h", ids=["c1"],
                                                       hooks=[other]),)), ROOT_OWNED)
    allowed = OciPolicy(exceptions=(Allowance(name="gpu", ids=["c1"], hooks=[kind]),))
    result = harden(config, allowed, ROOT_OWNED)
    assert result.config["hooks"] == config["hooks"]
    assert result.exceptions == [f"gpu: runs its {kind} hooks: /usr/bin/hook"]
    config["hooks"] = {kind: []}
    assert harden(config, OciPolicy(), ROOT_OWNED).exceptions == []


APPARMOR = BundleFacts("c1", 0, 0, apparmor=True, apparmor_profiles=frozenset(
    {"stockade-default", "docker-default"}))


@pytest.mark.parametrize("profile", [None, "", "unconfined"])
def test_unconfined_apparmor_becomes_ours_where_apparmor_is_enforced(profile: str | None) -> None:
    config = bundle()
    if profile is not None:
        config["process"]["apparmorProfile"] = profile
    result = harden(config, OciPolicy(), APPARMOR)
    assert result.config["process"]["apparmorProfile"] == "stockade-default"
    assert f"AppArmor profile stockade-default instead of {profile or 'none'}" in result.changes
    # Without AppArmor in the kernel there is nothing to name: the bundle is left alone.
    plain = harden(config, OciPolicy(), ROOT_OWNED).config["process"]
    assert plain.get("apparmorProfile") == profile
    keep = OciPolicy(exceptions=(Allowance(name="dbg", ids=["c1"], keep_apparmor=True),))
    kept = harden(config, keep, APPARMOR)
    assert kept.config["process"].get("apparmorProfile") == profile
    assert kept.exceptions == [f"dbg: keeps AppArmor profile {profile or 'none'}"]
    unloaded = BundleFacts("c1", 0, 0, apparmor=True)
    with pytest.raises(Refused, match="stockade-default profile is not loaded"):
        harden(config, OciPolicy(), unloaded)


def test_a_named_apparmor_profile_is_kept() -> None:
    config = bundle()
    config["process"]["apparmorProfile"] = "docker-default"
    result = harden(config, OciPolicy(), APPARMOR)
    assert result.config["process"]["apparmorProfile"] == "docker-default"


def test_selinux_labels_are_dropped_unless_excepted() -> None:
    config = bundle()
    config["process"]["selinuxLabel"] = "system_u:system_r:spc_t:s0"
    config["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0"
    result = harden(config, OciPolicy(), ROOT_OWNED)
    assert "selinuxLabel" not in result.config["process"]
    assert "mountLabel" not in result.config["linux"]
    assert any(c.startswith("SELinux labels dropped: selinuxLabel system_u:system_r:spc_t:s0")
               for c in result.changes)
    keep = OciPolicy(exceptions=(Allowance(name="se", ids=["c1"], keep_selinux=True),))
    kept = harden(config, keep, ROOT_OWNED)
    assert kept.config["process"]["selinuxLabel"] == "system_u:system_r:spc_t:s0"
    assert kept.exceptions == ["se: keeps SELinux labels: selinuxLabel system_u:system_r:"
                               "spc_t:s0, mountLabel system_u:object_r:container_file_t:s0"]


@pytest.mark.parametrize("swap, pinned", [(-1, 64 << 20), (None, 64 << 20), (0, 64 << 20),
                                          (128 << 20, 64 << 20), (64 << 20, 64 << 20)])
def test_swap_is_pinned_to_the_memory_limit(swap: int | None, pinned: int) -> None:
    config = bundle()
    config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    if swap is not None:
        config["linux"]["resources"]["memory"]["swap"] = swap
    result = harden(config, OciPolicy(), ROOT_OWNED)
    assert result.config["linux"]["resources"]["memory"] == {"limit": 64 << 20, "swap": pinned}
    assert (f"swap pinned to the memory limit (was {swap})" in result.changes) == (
        swap != pinned)


def joining(path: str = "/run/userns/pod") -> dict[str, Any]:
    config = bundle()
    config["linux"]["namespaces"].append({"type": "user", "path": path})
    return config


def test_a_joined_user_namespace_is_checked_by_its_real_mapping() -> None:
    good = JoinedUserns("/run/userns/pod", ((0, 3_000_000, 65536),), ((0, 3_000_000, 65536),))
    result = harden(joining(), OciPolicy(), BundleFacts("c1", 0, 0, joined_userns=good))
    assert result.userns is None and result.exceptions == []
    to_root = JoinedUserns("/run/userns/pod", ((0, 0, 65536),), ((0, 3_000_000, 65536),))
    with pytest.raises(Refused, match="maps root inside to host root"):
        harden(joining(), OciPolicy(), BundleFacts("c1", 0, 0, joined_userns=to_root))
    low = JoinedUserns("/run/userns/pod", ((0, 3_000_000, 65536),), ((0, 1000, 1),))
    with pytest.raises(Refused, match="gids to host id 1000, below the policy's minimum"):
        harden(joining(), OciPolicy(), BundleFacts("c1", 0, 0, joined_userns=low))
    high = OciPolicy(max_host_id=3_000_000 + 65534)
    with pytest.raises(Refused, match="up to host id 3065535, above the policy's maximum"):
        harden(joining(), high, BundleFacts("c1", 0, 0, joined_userns=good))
    with pytest.raises(Refused, match="cannot read the id mapping"):
        harden(joining(), OciPolicy(), ROOT_OWNED)
    other = JoinedUserns("/proc/9/ns/user", good.uid_map, good.gid_map)
    with pytest.raises(Refused, match="cannot read the id mapping"):
        harden(joining(), OciPolicy(), BundleFacts("c1", 0, 0, joined_userns=other))
    claims_root = joining()
    claims_root["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    claims_root["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    with pytest.raises(Refused, match="the bundle's user namespace maps root inside"):
        harden(claims_root, OciPolicy(), BundleFacts("c1", 0, 0, joined_userns=good))
    excepted = OciPolicy(exceptions=(Allowance(name="host", ids=["c1"], no_userns=True),))
    result = harden(joining(), excepted, BundleFacts("c1", 0, 0, joined_userns=to_root))
    assert result.exceptions == ["host: the joined user namespace /run/userns/pod maps root "
                                 "inside to host root (uid 0 to host id 0)"]


def test_a_bundle_mapping_beyond_the_host_range_is_refused() -> None:
    config = bundle()
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100_000, "size": 65536}]
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100_000, "size": 65536}]
    with pytest.raises(Refused, match="above the policy's maximum 150000"):
        harden(config, OciPolicy(max_host_id=150_000), ROOT_OWNED)

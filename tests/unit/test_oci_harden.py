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
    assert linux["resources"]["memory"] == {"limit": 64 << 20}
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
    assert result.exceptions == []


@settings(max_examples=100, deadline=None)
@given(bundles())
def test_hardening_twice_changes_nothing_more(config: dict[str, Any]) -> None:
    once = harden(config, OciPolicy(), ROOT_OWNED)
    twice = harden(once.config, OciPolicy(), ROOT_OWNED)
    assert twice.config == once.config
    assert twice.changes == []

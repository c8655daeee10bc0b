"""The policy compiler: every default layer is present whatever the (valid) request."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.errors import HostUnsupported, InvalidSpec
from stockade.policy import (
    DEFAULT_BOUNDING,
    BundleContext,
    IdMap,
    build_config,
    cpu_shares_for_memory,
)
from stockade.policy.exec import exec_process
from stockade.spec import ContainerSpec, Limits
from tests.hostkit import NO, YES, make_host

CTX = BundleContext(rootfs="/r", uid=2000, gid=2000, idmap=IdMap(host_base=1_000_000),
                    args=("sh",), helpers_dir="/var/lib/stockade/bin",
                    top_level_dirs=("bin", "etc", "home", "tmp", "usr", "app", "var"))


def compile_default(**spec: Any) -> dict[str, Any]:
    return build_config(ContainerSpec(handle="box", **spec), make_host(), CTX)


def test_all_seven_namespaces_and_pivot_root() -> None:
    config = compile_default()
    kinds = {ns["type"] for ns in config["linux"]["namespaces"]}
    assert kinds == {"pid", "network", "ipc", "uts", "mount", "user", "cgroup"}
    assert config["root"]["path"] == "/r"  # runc pivots into it; there is no chroot option


def test_user_namespace_maps_root_to_an_unprivileged_range() -> None:
    linux = compile_default()["linux"]
    for key in ("uidMappings", "gidMappings"):
        assert linux[key] == [{"containerID": 0, "hostID": 1_000_000, "size": 65536}]


def test_process_runs_unprivileged_with_no_new_privs() -> None:
    process = compile_default()["process"]
    assert process["user"]["uid"] == 2000 and process["user"]["gid"] == 2000
    assert process["noNewPrivileges"] is True
    caps = process["capabilities"]
    assert set(caps["bounding"]) == DEFAULT_BOUNDING
    assert caps["effective"] == caps["permitted"] == caps["ambient"] == caps["inheritable"] == []


def test_bounding_set_is_dockers_minus_five() -> None:
    docker = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
              "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
              "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
    dropped = {"CAP_NET_RAW", "CAP_MKNOD", "CAP_SYS_CHROOT", "CAP_SETFCAP", "CAP_AUDIT_WRITE"}
    assert docker - dropped == DEFAULT_BOUNDING
    added = compile_default(cap_add=["NET_RAW"])["process"]["capabilities"]["bounding"]
    assert set(added) == DEFAULT_BOUNDING | {"CAP_NET_RAW"}


def test_device_allowlist_is_deny_all_then_exact_list() -> None:
    rules = compile_default()["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    allowed = {(r["type"], r["major"], r.get("minor")) for r in rules[1:]}
    assert allowed == {("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9),
                       ("c", 5, 0), ("c", 5, 2), ("c", 136, None), ("c", 4, 0), ("c", 4, 1),
                       ("c", 10, 229), ("c", 10, 200)}
    assert all(r["allow"] for r in rules[1:])
    assert compile_default()["linux"]["devices"] == []
    nodes = compile_default(devices=["fuse"])["linux"]["devices"]
    assert [(n["path"], n["major"], n["minor"]) for n in nodes] == [("/dev/fuse", 10, 229)]


def test_masked_and_read_only_paths() -> None:
    linux = compile_default()["linux"]
    assert {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi",
            "/proc/scsi", "/sys/firmware"} <= set(linux["maskedPaths"])
    assert {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus",
            "/proc/fs"} <= set(linux["readonlyPaths"])


def test_kernel_filesystems_are_locked_down() -> None:
    mounts = {m["destination"]: m for m in compile_default()["mounts"]}
    assert {"nosuid", "noexec", "nodev"} <= set(mounts["/proc"]["options"])
    assert "ro" in mounts["/sys"]["options"] and "ro" in mounts["/sys/fs/cgroup"]["options"]
    assert mounts["/dev"]["type"] == "tmpfs"


@pytest.mark.parametrize(("mib", "shares"), [(1, 10), (128, 16), (80, 10), (256, 32),
                                             (512, 64), (8192, 1024), (65536, 1024)])
def test_cpu_shares_follow_memory(mib: int, shares: int) -> None:
    assert cpu_shares_for_memory(mib << 20) == shares


@settings(max_examples=200)
@given(memory=st.integers(min_value=8 << 20, max_value=1 << 40),
       pids=st.integers(min_value=1, max_value=4_194_304),
       shares=st.none() | st.integers(min_value=2, max_value=262_144))
def test_resources_for_any_valid_limits(memory: int, pids: int, shares: int | None) -> None:
    limits = Limits(memory_bytes=memory, pids=pids, cpu_shares=shares)
    resources = build_config(ContainerSpec(handle="box", limits=limits), make_host(),
                             CTX)["linux"]["resources"]
    assert resources["memory"] == {"limit": memory, "swap": memory}
    assert resources["pids"] == {"limit": pids}
    expected = shares if shares is not None else min(1024, max(10, (memory >> 20) // 8))
    assert resources["cpu"]["shares"] == expected


@given(hard=st.integers(min_value=64, max_value=1 << 20))
def test_rlimits_never_exceed_the_host(hard: int) -> None:
    process = build_config(ContainerSpec(handle="box"), make_host(nofile_hard=hard),
                           CTX)["process"]
    nofile = next(r for r in process["rlimits"] if r["type"] == "RLIMIT_NOFILE")
    assert nofile["soft"] <= nofile["hard"] <= hard


def test_hostname_is_the_handle_and_cgroup_path_is_owned() -> None:
    config = compile_default()
    assert config["hostname"] == "box"
    assert config["linux"]["cgroupsPath"] == "/stockade/box"


def test_apparmor_profile_only_where_apparmor_is_enabled() -> None:
    assert "apparmorProfile" not in compile_default()["process"]
    with_aa = build_config(ContainerSpec(handle="b"), make_host(apparmor=YES), CTX)
    assert with_aa["process"]["apparmorProfile"] == "stockade-default"


def test_seccomp_is_always_on() -> None:
    seccomp = compile_default()["linux"]["seccomp"]
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"


def test_hosts_without_user_namespaces_or_seccomp_are_refused() -> None:
    for weak in ({"user_namespaces": NO}, {"seccomp": NO}):
        with pytest.raises(HostUnsupported):
            build_config(ContainerSpec(handle="b"), make_host(**weak), CTX)


def test_users_outside_the_mapped_range_are_refused() -> None:
    ctx = CTX.model_copy(update={"uid": 70000})
    with pytest.raises(InvalidSpec):
        build_config(ContainerSpec(handle="b"), make_host(), ctx)


def test_environment_layers_image_then_request() -> None:
    ctx = CTX.model_copy(update={"image_env": ("A=image", "B=image")})
    config = build_config(ContainerSpec(handle="b", process={"env": {"B": "req"}}),
                          make_host(), ctx)
    env = dict(e.split("=", 1) for e in config["process"]["env"])
    assert (env["A"], env["B"], env["HOSTNAME"]) == ("image", "req", "b")
    assert "PATH" in env


def test_bind_mounts_are_nosuid_nodev_and_read_only_by_default() -> None:
    config = compile_default(mounts=[{"host_path": "/srv/a", "container_path": "/a"}])
    bind = next(m for m in config["mounts"] if m["destination"] == "/a")
    assert {"rbind", "nosuid", "nodev", "ro"} <= set(bind["options"])


def test_exec_keeps_the_init_hardening() -> None:
    base = compile_default()["process"]
    process = exec_process(base, ["id"], {"X": "1"}, terminal=True, user=(0, 0))
    assert process["noNewPrivileges"] and process["terminal"]
    assert process["capabilities"]["effective"] == base["capabilities"]["bounding"]
    assert process["capabilities"]["ambient"] == []
    assert "X=1" in process["env"]
    assert process["args"][:2] == ["/.stockade/init", "-e"]
    assert process["args"][-2:] == ["--", "id"]
    assert base["args"][-1] == "sh"  # the original is untouched


def test_the_init_runs_first_with_landlock_rules() -> None:
    config = compile_default(mounts=[{"host_path": "/srv/a", "container_path": "/data",
                                      "read_only": False}], writable_paths=["/var/cache"])
    args = config["process"]["args"]
    assert args[0] == "/.stockade/init" and args[-2:] == ["--", "sh"]
    rules = args[1:args.index("--")]
    writable = {rules[i + 1] for i, flag in enumerate(rules) if flag == "-w"}
    executable = {rules[i + 1] for i, flag in enumerate(rules) if flag == "-x"}
    assert {"/home", "/tmp", "/var/tmp", "/data", "/var/cache"} <= writable
    assert "/app" not in writable  # executable at run time, so not writable unless asked
    # never /tmp, /home or /var; the read-only helpers so verify's probe can run
    assert executable == {"/bin", "/etc", "/usr", "/app", "/.stockade"}
    assert "-L" not in rules
    helper = next(m for m in config["mounts"] if m["destination"] == "/.stockade")
    assert "ro" in helper["options"] and helper["source"] == "/var/lib/stockade/bin"


def test_landlock_is_skipped_only_when_absent_or_explicitly_disabled() -> None:
    no_landlock = build_config(ContainerSpec(handle="b"), make_host(landlock=NO, landlock_abi=0),
                               CTX)
    assert "-L" in no_landlock["process"]["args"]
    unsafe = compile_default(unsafe={"disable_mac": True})
    assert "-L" in unsafe["process"]["args"]


def test_unsafe_options_weaken_exactly_what_they_name() -> None:
    plain = compile_default()
    no_seccomp = compile_default(unsafe={"disable_seccomp": True})
    assert "seccomp" not in no_seccomp["linux"] and "seccomp" in plain["linux"]
    no_userns = compile_default(unsafe={"disable_userns": True})
    assert "user" not in {ns["type"] for ns in no_userns["linux"]["namespaces"]}
    assert "uidMappings" not in no_userns["linux"]
    extra = compile_default(unsafe={"cap_add": ["sys_admin"]})
    assert "CAP_SYS_ADMIN" in extra["process"]["capabilities"]["bounding"]
    spec = ContainerSpec(handle="b", unsafe={"disable_mac": True, "cap_add": ["SYS_ADMIN"]})
    assert spec.unsafe.in_use() == ["disable_mac", "cap_add:CAP_SYS_ADMIN"]


def test_a_hostname_replaces_the_handle_in_the_uts_namespace() -> None:
    assert compile_default(hostname="web-1")["hostname"] == "web-1"
    with pytest.raises(ValueError, match="hostname"):
        ContainerSpec(handle="box", hostname="-bad")


@given(st.floats(min_value=0.01, max_value=1024, allow_nan=False))
def test_cpus_become_a_cfs_quota_per_default_period(cpus: float) -> None:
    cpu = compile_default(limits={"cpus": cpus})["linux"]["resources"]["cpu"]
    assert cpu["period"] == 100_000
    assert cpu["quota"] == max(1000, round(cpus * 100_000))
    assert "quota" not in compile_default()["linux"]["resources"]["cpu"]

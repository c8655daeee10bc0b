"""The verdicts: a healthy container passes every row, and each weakening fails exactly
the rows of the layer it removes."""

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.policy import DEFAULT_BOUNDING
from stockade.spec import ContainerSpec
from stockade.verify import capsets
from stockade.verify.battery import BATTERY
from stockade.verify.checks import LAYERS, capability_verdict, cpu_weight, namespace_verdict
from stockade.verify.expect import expectations
from stockade.verify.facts import Attempt, DeviceNode, DiskFacts, FirewallFacts, NetworkFacts
from stockade.verify.model import Status
from stockade.verify.runner import probe_args
from tests.hostkit import make_host
from tests.unit.verify_evidence import (
    DEFAULT_CAPS,
    ZERO,
    by_id,
    evidence,
    expect,
    failing,
    host_facts,
    probe,
    statuses,
    with_attempt,
    without,
)

SECCOMP_ROWS = {"seccomp.mode", "seccomp.filter", "battery.06", "battery.13", "battery.14",
                "battery.15", "battery.16", "battery.17", "battery.18", "battery.19",
                "battery.28"}


def test_a_default_container_passes_everything_but_the_quota_it_does_not_have_yet() -> None:
    result = statuses(evidence())
    assert {k for k, v in result.items() if v != Status.PASS} == {"disk", "battery.24"}
    assert result["disk"] == result["battery.24"] == Status.GAP


def test_a_networked_container_with_a_quota_passes_with_no_gap() -> None:
    facts = probe("network")  # eth0, a default route, the connect to verify's listener
    host = host_facts(facts, disk=DiskFacts(backend="btrfs", limit_bytes=1 << 30),
                      network=NetworkFacts(ip="10.254.0.2", egress_targets=("10.254.0.1:1",),
                                           firewall=GUARDED))
    result = statuses(evidence(facts=facts, host=host))
    assert set(result.values()) == {Status.PASS}
    assert "ETIMEDOUT" in by_id(evidence(facts=facts, host=host), "network.egress").observed


def test_every_layer_and_every_battery_row_is_reported() -> None:
    ids = set(statuses(evidence()))
    assert {f"namespace.{k}" for k in ("pid", "net", "ipc", "uts", "mnt", "user", "cgroup")} \
        <= ids
    assert {"user.mapping", "capabilities", "no_new_privs", "seccomp.mode", "seccomp.filter",
            "mac", "mac.network", "paths.masked", "paths.readonly", "devices", "memory", "cpu",
            "pids", "disk", "network.isolation", "network.egress", "probe", "paths.noexec",
            "exec.memfd"} <= ids
    assert [r.number for r in BATTERY] == list(range(1, 31))
    assert len(ids) == 1 + len(LAYERS) + 30


def test_seccomp_off_fails_the_seccomp_rows_only() -> None:
    facts = probe("no-seccomp")
    host = host_facts(facts, init_status={**host_facts(facts).init_status, "Seccomp": "0",
                                          "Seccomp_filters": "0"})
    assert failing(evidence(facts=facts, host=host)) == SECCOMP_ROWS


def test_the_32bit_and_x32_side_doors_are_shut_by_a_kill() -> None:
    row = by_id(evidence(), "battery.28")
    assert row.status == Status.PASS
    assert row.observed.count("killed by SIGSYS") == 4  # three families through int 0x80, x32
    # the capture without seccomp: int 0x80 socketcall(AF_VSOCK) opened a socket
    open_door = by_id(evidence("no-seccomp"), "battery.28")
    assert open_door.status == Status.FAIL
    assert "NOT STOPPED" in open_door.observed and "AF_VSOCK) in a child: ok" in open_door.observed


@pytest.mark.parametrize(("code", "passes"), [(-9, False), (0, False), (errno.EAFNOSUPPORT, False),
                                              (errno.EPERM, True), (errno.ENOSYS, True)])
def test_only_the_filter_or_a_missing_abi_counts_as_shut(code: int, passes: bool) -> None:
    # Another signal or a family the kernel lacks is not the filter at work.
    ev = evidence(facts=with_attempt(probe(), "abi.x32_socket", code))
    assert (by_id(ev, "battery.28").status == Status.PASS) is passes


def test_the_seccomp_signature_tells_our_filter_from_the_kernel() -> None:
    ev = evidence(facts=with_attempt(probe(), "userns.clone3", errno.EINVAL))
    assert failing(ev) == {"seccomp.filter", "battery.06"}
    assert "NOT STOPPED" in by_id(ev, "battery.06").observed


def test_a_shared_user_namespace_and_identity_map_fail() -> None:
    facts = probe()
    lists = {**facts.lists, "uid_map": ("0 0 4294967295",), "gid_map": ("0 0 4294967295",)}
    shared = facts.model_copy(update={"lists": lists, "facts": {
        **facts.facts, "ns.user": "user:[4026531800]"}})
    host = host_facts(shared)
    assert failing(evidence(facts=shared, host=host)) == {"namespace.user", "user.mapping",
                                                          "battery.02"}
    assert "HOST ROOT" in by_id(evidence(facts=shared, host=host), "user.mapping").observed


def test_landlock_off_fails_the_mac_row() -> None:
    facts = with_attempt(with_attempt(probe(), "landlock.etc_create", 0),
                         "landlock.proc_write", 0)
    assert failing(evidence(facts=facts)) == {"mac"}


def test_no_mac_layer_at_all_fails_with_the_reason() -> None:
    ev = evidence(expected=expect().model_copy(update={"landlock": False}))
    assert failing(ev) == {"mac"}
    assert "NO MAC LAYER" in by_id(ev, "mac").observed
    assert "AppArmor is not in this kernel" in by_id(ev, "mac").observed


def test_apparmor_hosts_need_the_profile_enforced() -> None:
    expected = expect().model_copy(update={"apparmor": True})
    assert failing(evidence(expected=expected)) == {"mac"}  # the capture has no label
    facts = probe()
    labelled = facts.model_copy(update={"facts": {**facts.facts,
                                                  "mac.label": "stockade-default (enforce)"}})
    assert failing(evidence(facts=labelled, expected=expected)) == set()


def test_an_extra_capability_fails_the_capability_rows() -> None:
    facts = probe()
    extra = f"{int(DEFAULT_CAPS, 16) | 1 << 21:016x}"
    status = {**facts.facts, **{f"status.{k}": extra for k in ("CapBnd", "CapPrm", "CapEff")}}
    widened = facts.model_copy(update={"facts": status})
    host = host_facts(widened, init_status={**host_facts(widened).init_status, "CapBnd": extra})
    ev = evidence(facts=widened, host=host)
    assert failing(ev) == {"capabilities", "battery.03"}
    assert "+CAP_SYS_ADMIN" in by_id(ev, "capabilities").observed


@given(st.integers(min_value=0, max_value=(1 << 41) - 1))
def test_random_capability_masks_fail_exactly_when_they_differ(value: int) -> None:
    text = f"{value:016x}"
    root = {"CapBnd": text, "CapPrm": text, "CapEff": text, "CapInh": ZERO, "CapAmb": ZERO}
    app = {"CapBnd": text, "CapPrm": ZERO, "CapEff": ZERO, "CapInh": ZERO, "CapAmb": ZERO}
    result = capability_verdict(DEFAULT_BOUNDING, root, app)
    assert (result.status == Status.PASS) == (value == capsets.mask(DEFAULT_BOUNDING))


@given(st.sampled_from(["CapInh", "CapAmb"]), st.integers(min_value=1, max_value=(1 << 41) - 1))
def test_any_inheritable_or_ambient_capability_fails(field: str, value: int) -> None:
    root = {"CapBnd": DEFAULT_CAPS, "CapPrm": DEFAULT_CAPS, "CapEff": DEFAULT_CAPS,
            "CapInh": ZERO, "CapAmb": ZERO, field: f"{value:016x}"}
    app = {**root, "CapPrm": ZERO, "CapEff": ZERO, "CapInh": ZERO, "CapAmb": ZERO}
    assert capability_verdict(DEFAULT_BOUNDING, root, app).status == Status.FAIL


def test_a_safe_cap_add_is_expected_but_the_battery_still_says_what_it_opens() -> None:
    facts = probe()
    net_raw = f"{int(DEFAULT_CAPS, 16) | 1 << 13:016x}"
    status = {**facts.facts, **{f"status.{k}": net_raw for k in ("CapBnd", "CapPrm", "CapEff")}}
    facts = with_attempt(with_attempt(facts.model_copy(update={"facts": status}),
                                      "net.packet", 0), "net.raw", 0)
    host = host_facts(facts, init_status={**host_facts(facts).init_status, "CapBnd": net_raw})
    assert failing(evidence(facts=facts, host=host, expected=expect(cap_add=["NET_RAW"]))) == \
        {"battery.20"}


@given(st.sampled_from(["a", "b", "c"]), st.sampled_from(["a", "b", "c"]),
       st.sampled_from(["a", "b", "c", None]))
def test_a_namespace_passes_only_when_private_and_the_inits(inside: str, host: str,
                                                             init: str | None) -> None:
    result = namespace_verdict(inside, host, init)
    assert (result.status == Status.PASS) == (inside != host and init in (None, inside))


def test_missing_evidence_fails_rather_than_passes() -> None:
    ev = evidence(facts=without(probe(), "ptrace.attach"))
    assert failing(ev) == {"battery.13"}
    assert "not observed" in by_id(ev, "battery.13").observed


def test_an_empty_probe_fails_nearly_everything() -> None:
    ev = evidence(facts=probe().model_copy(update={
        "facts": {}, "lists": {}, "attempts": (), "masked": (), "readonly": (), "devices": (),
        "complete": False}))
    result = statuses(ev)
    passing = {k for k, v in result.items() if v == Status.PASS}
    # only the host-side rows still stand on their own evidence
    assert passing == {"memory", "cpu", "pids", "battery.22", "battery.23", "battery.25",
                       "network.firewall"}
    assert result["probe"] == Status.FAIL


def test_the_probe_row_reports_how_it_failed() -> None:
    facts = probe().model_copy(update={"complete": False})
    host = host_facts(facts, probe_exit=126, probe_stderr="stockade-init: exec: Permission "
                                                          "denied\n")
    check = by_id(evidence(facts=facts, host=host), "probe")
    assert check.status == Status.FAIL and "126" in check.observed
    assert "Permission denied" in check.observed and "recreate it" in check.observed


def test_block_devices_and_foreign_cgroup_rules_fail() -> None:
    facts = probe()
    disk = DeviceNode(path="/dev/sda", kind="b", major=8, minor=0)
    with_disk = facts.model_copy(update={"devices": (*facts.devices, disk)})
    assert failing(evidence(facts=with_disk)) == {"devices", "battery.11"}
    host = host_facts(facts, cgroup=host_facts(facts).cgroup.model_copy(update={
        "devices_list": ("a *:* rwm",)}))
    assert failing(evidence(host=host)) == {"devices"}


@pytest.mark.parametrize(("key", "value", "rows"), [
    ("memory.limit_in_bytes", "9223372036854771712", {"memory", "battery.22"}),
    ("memory.memsw.limit_in_bytes", "536870912", {"memory", "battery.22"}),
    ("memory.oom_control", "oom_kill_disable 1\n", {"memory", "battery.22"}),
    ("cpu.shares", "1024", {"cpu", "battery.25"}),
    ("pids.max", "max", {"pids", "battery.23"}),
])
def test_cgroup_limits_must_match_the_spec(key: str, value: str, rows: set[str]) -> None:
    facts = probe()
    cgroup = host_facts(facts).cgroup
    host = host_facts(facts, cgroup=cgroup.model_copy(update={"files": {**cgroup.files,
                                                                        key: value}}))
    assert failing(evidence(host=host)) == rows


def test_cgroup_v2_files_are_read_the_v2_way() -> None:
    facts = probe()
    files = {"memory.max": "268435456", "memory.swap.max": "0",
             "cpu.weight": str(cpu_weight(32)), "pids.max": "1024"}
    host = host_facts(facts, cgroup=host_facts(facts).cgroup.model_copy(update={
        "version": 2, "files": files, "devices_list": None}))
    assert failing(evidence(host=host)) == set()
    assert cpu_weight(2) == 1 and cpu_weight(262144) == 10000


def test_a_reported_quota_turns_the_gap_into_a_check() -> None:
    facts = probe()
    good = host_facts(facts, disk=DiskFacts(backend="btrfs", limit_bytes=1 << 30))
    assert statuses(evidence(host=good))["disk"] == Status.PASS
    wrong = host_facts(facts, disk=DiskFacts(backend="btrfs", limit_bytes=1 << 40))
    assert failing(evidence(host=wrong)) == {"disk", "battery.24"}


def test_a_network_layer_must_prove_egress_is_denied() -> None:
    facts = probe()
    lists = {**facts.lists, "interface": ("lo", "eth0"), "route": ("eth0 00000000 0100FE0A",)}
    wired = facts.model_copy(update={"lists": lists})
    unproven = host_facts(wired, network=NetworkFacts(ip="10.254.0.2", firewall=GUARDED))
    assert failing(evidence(facts=wired, host=unproven)) == {"network.egress", "battery.26"}
    refused = Attempt(name="net.connect", errno=errno.ETIMEDOUT, detail="10.254.0.1:80")
    probed = wired.model_copy(update={"attempts": (*wired.attempts, refused)})
    proven = host_facts(probed, network=NetworkFacts(ip="10.254.0.2",
                                                     egress_targets=("10.254.0.1:80",),
                                                     firewall=GUARDED))
    assert failing(evidence(facts=probed, host=proven)) == set()
    leaking = with_attempt(probed, "net.connect", 0)
    assert failing(evidence(facts=leaking, host=proven)) == {"network.egress", "battery.26"}


GUARDED = FirewallFacts(port="stk0afe0002", guarded=True, hooked=True, table="stockade")


@pytest.mark.parametrize(("firewall", "passes"), [
    (GUARDED, True),
    (GUARDED.model_copy(update={"guarded": False}), False),  # no port guard
    (GUARDED.model_copy(update={"hooked": False}), False),  # the table lost its rules
    (None, False),  # wired, but the host side was not read
])
def test_the_firewall_row_needs_the_port_guard_and_the_tables_rules(
        firewall: FirewallFacts | None, passes: bool) -> None:
    facts = probe("network")
    host = host_facts(facts, disk=DiskFacts(backend="btrfs", limit_bytes=1 << 30),
                      network=NetworkFacts(ip="10.254.0.2", egress_targets=("10.254.0.1:1",),
                                           firewall=firewall))
    ev = evidence(facts=facts, host=host)
    assert failing(ev) == (set() if passes else {"network.firewall"})
    if firewall is not None:
        assert firewall.port in by_id(ev, "network.firewall").observed


def test_interfaces_without_a_network_layer_fail_isolation() -> None:
    facts = probe()
    wired = facts.model_copy(update={"lists": {**facts.lists, "interface": ("lo", "eth0")}})
    assert {"network.isolation", "battery.26"} <= failing(evidence(facts=wired))


def test_leaked_descriptors_and_platform_sockets_fail() -> None:
    facts = probe()
    leaked = host_facts(facts, init_fds=("3 /var/lib/stockade/state.db",))
    assert failing(evidence(host=leaked)) == {"battery.21"}
    harmless = host_facts(facts, init_fds=("3 pipe:[1]", "4 socket:[2]", "5 anon_inode:[x]"))
    assert failing(evidence(host=harmless)) == set()
    lists = {**facts.lists, "socket": ("/srv/run/docker.sock", "/tmp/app.sock")}
    exposed = facts.model_copy(update={"lists": lists})
    assert failing(evidence(facts=exposed)) == {"battery.27"}
    visible = with_attempt(facts, "socket.visible", 0)
    assert failing(evidence(facts=visible)) == {"battery.27"}


def test_masked_and_read_only_paths_that_leak_fail() -> None:
    facts = probe()
    masked = tuple(m.model_copy(update={"size": 4096}) if m.path == "/proc/keys" else m
                   for m in facts.masked)
    assert failing(evidence(facts=facts.model_copy(update={"masked": masked}))) == \
        {"paths.masked", "battery.10"}
    readonly = tuple(r.model_copy(update={"read_only": False}) if r.path == "/proc/sys" else r
                     for r in facts.readonly)
    assert failing(evidence(facts=facts.model_copy(update={"readonly": readonly}))) == \
        {"paths.readonly"}
    opened = tuple(r.model_copy(update={"write_errno": 0}) if r.read_only is not None else r
                   for r in facts.readonly)
    assert failing(evidence(facts=facts.model_copy(update={"readonly": opened}))) == \
        {"paths.readonly"}


def test_pid_one_must_be_our_init() -> None:
    facts = probe()
    host_init = facts.model_copy(update={"facts": {**facts.facts,
                                                   "pid1.cmdline": "/sbin/init splash"}})
    assert failing(evidence(facts=host_init)) == {"battery.01"}


def test_the_probe_is_told_every_policy_path() -> None:
    expected = expect()
    args = probe_args(expected, ("10.0.0.1:80",))
    assert args[0] == "/.stockade/probe"
    pairs = set(zip(args[1::2], args[2::2], strict=True))
    assert {("-m", p) for p in expected.masked_paths} <= pairs
    assert {("-r", p) for p in expected.readonly_paths} <= pairs
    assert ("-s", "/run/stockade/stockade.sock") in pairs and ("-c", "10.0.0.1:80") in pairs


# -- Landlock's TCP rules -------------------------------------------------------------------

def test_the_landlock_network_row_needs_eacces_for_an_undeclared_bind() -> None:
    row = by_id(evidence(), "mac.network")
    assert row.status == Status.PASS
    assert "bind 127.0.0.1:1024: EACCES" in row.observed
    assert "connect left to the firewall" in row.expected
    opened = with_attempt(probe(), "landlock.bind", 0)
    assert by_id(evidence(facts=opened), "mac.network").status == Status.FAIL
    assert by_id(evidence(facts=without(probe(), "landlock.bind")),
                 "mac.network").status == Status.FAIL


def test_declared_connect_ports_need_eacces_for_an_undeclared_connect() -> None:
    limited = expect(connect_ports="443")
    assert "connect only 443" in by_id(evidence(expected=limited), "mac.network").expected
    # the captured probe met ECONNREFUSED: no Landlock connect rule was in force
    assert by_id(evidence(expected=limited), "mac.network").status == Status.FAIL
    denied = with_attempt(probe(), "landlock.connect", errno.EACCES)
    assert by_id(evidence(facts=denied, expected=limited), "mac.network").status == Status.PASS
    # and the reverse: a Landlock connect rule where the spec declared none is a mismatch
    assert by_id(evidence(facts=denied), "mac.network").status == Status.FAIL


def test_a_kernel_without_landlock_network_rules_is_a_reported_gap() -> None:
    older = expectations(ContainerSpec(handle="fx"), make_host(landlock_abi=3), 1_000_000)
    row = by_id(evidence(expected=older), "mac.network")
    assert row.status == Status.GAP and "not enforced here" in row.observed


def test_the_probe_is_given_the_unlisted_port_only_where_rules_exist() -> None:
    assert probe_args(expect(listen_ports="1024-2000"), ())[-2:] == ["-p", "2001"]
    older = expectations(ContainerSpec(handle="fx"), make_host(landlock_abi=3), 1_000_000)
    assert "-p" not in probe_args(older, ())

"""The host baseline's pure judges: sysctls, key quota, LSMs, lockdown, cgroups, mounts,
packages, drift, and the readers' parsers (hypothesis where input comes from the host)."""

from hypothesis import given
from hypothesis import strategies as st

from stockade.host import baseline
from stockade.host.baseline import Item, Report, SysctlRule

RULES = st.sampled_from(baseline.SYSCTLS)


@given(RULES, st.integers(-(1 << 40), 1 << 40))
def test_a_sysctl_passes_exactly_inside_its_range(rule: SysctlRule, value: int) -> None:
    item = baseline.judge_sysctl(rule, f"{value}\n")
    inside = rule.low <= value and (rule.high is None or value <= rule.high)
    assert item.status == ("pass" if inside else "fail")
    assert item.evidence == str(value)
    assert item.reason.startswith("wanted ") and "\n" not in item.reason


@given(RULES, st.text())
def test_any_text_gives_one_item_with_a_one_line_reason(rule: SysctlRule, raw: str) -> None:
    item = baseline.judge_sysctl(rule, raw)
    assert item.status in ("pass", "fail")
    assert "\n" not in item.reason
    if baseline.parse_int(raw) is None:
        assert item.status == "fail" and "unreadable" in item.reason


def test_an_absent_sysctl_is_not_applicable() -> None:
    rule = next(r for r in baseline.SYSCTLS if r.name == "kernel.yama.ptrace_scope")
    item = baseline.judge_sysctl(rule, None)
    assert (item.status, item.evidence) == ("n/a", "absent")
    assert rule.path in item.reason


def test_harden_values_pass_their_own_rule_and_one_way_switches_are_not_written() -> None:
    for rule in baseline.SYSCTLS:
        if rule.harden is not None:
            assert baseline.judge_sysctl(rule, str(rule.harden)).status == "pass", rule.name
        else:
            assert rule.operator, rule.name
    bpf = next(r for r in baseline.SYSCTLS if r.name == "kernel.unprivileged_bpf_disabled")
    assert bpf.harden == 2  # 1 is one way until reboot: revert could not undo it


@given(st.integers(0, 1 << 20), st.integers(0, 1 << 30), st.integers(1, 1 << 16),
       st.none() | st.integers(0, 1000))
def test_the_key_quota_holds_one_keyring_per_container(maxkeys: int, maxbytes: int,
                                                       containers: int,
                                                       held: int | None) -> None:
    item = baseline.judge_keys(maxkeys, maxbytes, containers, held, 1_000_000)
    fits = maxkeys >= containers and maxbytes >= containers * baseline.KEY_BYTES
    assert item.status == ("pass" if fits else "fail")
    assert str(held if held is not None else "?") in item.reason
    assert "holds" not in item.evidence  # what drift compares does not move with usage


def test_key_users_are_read_per_uid() -> None:
    text = ("    0:     9 8/8 3/1000000 40/25000000\n"
            "1000000:    13 13/13 13/200 1092/20000\n")
    assert baseline.parse_key_users(text) == {0: (3, 1000000, 25000000),
                                              1000000: (13, 200, 20000)}


@given(st.lists(st.sampled_from(sorted(baseline.LSM_IDS)), unique=True))
def test_lsm_items_follow_the_active_list(ids: list[int]) -> None:
    active = baseline.lsm_names(ids)
    items = {i.name: i for i in baseline.judge_lsms(active, "test", None, 7)}
    for name in ("apparmor", "landlock", "bpf"):
        assert items[f"lsm.{name}"].status == ("pass" if name in active else "fail")
    assert items["lsm.lockdown"].status == "n/a"


def test_unknown_lsms_are_not_guessed() -> None:
    items = baseline.judge_lsms(None, "securityfs not mounted", "none [integrity]", 0)
    assert [i.status for i in items] == ["n/a", "n/a", "n/a", "pass"]


@given(st.sampled_from(["none", "integrity", "confidentiality"]))
def test_lockdown_mode_is_the_bracketed_word(mode: str) -> None:
    words = ["none", "integrity", "confidentiality"]
    text = " ".join(f"[{w}]" if w == mode else w for w in words)
    assert baseline.parse_lockdown(text) == mode
    item = baseline.judge_lsms(("lockdown",), "t", text, 0)[-1]
    assert item.status == ("fail" if mode == "none" else "pass")


def test_cgroups_judge_the_version_and_the_delegated_controllers() -> None:
    v1 = baseline.judge_cgroups(1, ("cpu", "memory", "pids"), None)
    assert [i.status for i in v1] == ["fail", "pass"]
    v2 = baseline.judge_cgroups(2, ("cpu", "memory", "pids"), ("cpu",))
    assert [i.status for i in v2] == ["pass", "fail"]
    assert "memory" in v2[1].reason


MOUNT_POINTS = st.lists(st.sampled_from(["/var", "/var/lib", "/var/lib/stockade", "/srv",
                                         "/var/lib/stockade/images"]), max_size=5)


@given(MOUNT_POINTS, st.sampled_from(["/var/lib/stockade", "/var/lib/stockade/images/x",
                                      "/srv/a", "/varnish"]))
def test_the_mount_holding_a_path_is_its_longest_prefix(points: list[str], path: str) -> None:
    lines = ["22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw"]
    lines += [f"{30 + n} 22 0:{n} / {p} rw,nosuid,nodev - tmpfs t rw"
              for n, p in enumerate(points)]
    point, options = baseline.mount_of("\n".join(lines), path) or ("", frozenset())
    holders = [p for p in ["/", *points] if p in ("/", path) or path.startswith(p + "/")]
    assert point == max(holders, key=len)
    item = baseline.judge_mount("x", path, (point, options))
    assert item.status == ("fail" if point == "/" else "pass")


def test_an_escaped_mount_point_is_read() -> None:
    text = r"40 22 0:5 / /var/my\040store rw,nodev,nosuid - tmpfs t rw"
    assert baseline.mount_of(text, "/var/my store/images") == (
        "/var/my store", frozenset({"rw", "nodev", "nosuid"}))


def test_packages_without_a_database_are_not_applicable() -> None:
    item = baseline.judge_packages(None, 300, "no vulnerability database loaded")
    assert item.status == "n/a" and item.reason == "no vulnerability database loaded"
    found = [{"package": "runc", "installed": "1.1.5", "id": f"DSA-{n}"} for n in range(7)]
    item = baseline.judge_packages(found, 300, "")
    assert item.status == "fail" and "and 2 more" in item.evidence


def _report(*values: tuple[str, str, str]) -> Report:
    return Report([Item(n, "sysctl", s, e, "r") for n, s, e in values])  # type: ignore[arg-type]


def test_drift_is_a_passing_value_that_changed() -> None:
    before = _report(("a", "pass", "1"), ("b", "fail", "0"), ("c", "pass", "2"))
    after = _report(("a", "fail", "0"), ("b", "fail", "5"), ("c", "pass", "2"))
    assert [(o.name, n.evidence) for o, n in baseline.drifted(before, after)] == [("a", "0")]


def test_the_summary_counts_only_judged_items() -> None:
    report = _report(("a", "pass", "1"), ("b", "fail", "0"), ("c", "n/a", "absent"))
    assert report.summary() == "host baseline 1/2 passed; failed: b"

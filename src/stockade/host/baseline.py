"""The host baseline: the settings of the node that container isolation rests on, as data,
and pure functions that judge a value read from the host into one item (pass, fail or not
applicable) with the evidence and a one-line reason. Reading the host is hostcheck.py's;
changing it is harden.py's."""

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "n/a"]

KEY_BYTES = 100
"""Quota bytes one container's session keyring is allowed: the kernel's own defaults give
200 keys 20000 bytes, 100 a key."""
REQUIRED_CONTROLLERS = ("cpu", "memory", "pids")
# LSM ids of lsm_list_modules(2), include/uapi/linux/lsm.h
LSM_IDS = {100: "capability", 101: "selinux", 102: "smack", 103: "tomoyo", 104: "apparmor",
           105: "yama", 106: "loadpin", 107: "safesetid", 108: "lockdown", 109: "bpf",
           110: "landlock", 111: "ima", 112: "evm", 113: "ipe"}


@dataclass(frozen=True)
class Item:
    name: str
    group: str
    status: Status
    evidence: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class SysctlRule:
    """A sysctl passes when low <= value <= high (high None: no upper bound)."""

    name: str
    low: int
    high: int | None
    why: str
    harden: int | None = None
    """The value `host harden` writes when the check fails; None: too risky, only reported."""
    operator: str = ""
    """For a rule harden leaves alone: what an operator would run, and what it costs."""

    @property
    def path(self) -> str:
        return "/proc/sys/" + self.name.replace(".", "/")

    @property
    def wanted(self) -> str:
        if self.high is None:
            return f">= {self.low}"
        return f"= {self.low}" if self.low == self.high else f"{self.low}..{self.high}"


SYSCTLS: tuple[SysctlRule, ...] = (
    SysctlRule("kernel.kptr_restrict", 1, None, "kernel pointers in /proc would help an "
               "exploit from a container defeat KASLR", harden=1),
    SysctlRule("kernel.dmesg_restrict", 1, 1, "the kernel log leaks addresses and other "
               "tenants' events to unprivileged readers", harden=1),
    # 2, not 1: 1 cannot be undone without a reboot, so --revert could not restore it
    SysctlRule("kernel.unprivileged_bpf_disabled", 1, None, "unprivileged eBPF is a large "
               "kernel attack surface and a speculative-execution gadget", harden=2),
    SysctlRule("kernel.perf_event_paranoid", 2, None, "perf events let unprivileged code "
               "profile the kernel and other processes", harden=2),
    SysctlRule("kernel.yama.ptrace_scope", 1, None, "without Yama any process may ptrace "
               "every other process of the same uid", harden=1),
    SysctlRule("kernel.kexec_load_disabled", 1, 1, "kexec replaces the running kernel and "
               "every isolation with it", operator="sysctl -w kernel.kexec_load_disabled=1 "
               "(one way: only a reboot turns kexec back on)"),
    SysctlRule("kernel.sysrq", 0, 0, "magic SysRq from a console can kill or reboot the "
               "host", harden=0),
    SysctlRule("fs.protected_symlinks", 1, None, "symlinks in shared sticky directories are "
               "the classic time-of-check races", harden=1),
    SysctlRule("fs.protected_hardlinks", 1, None, "hard links to files one cannot write "
               "turn later chmods and setuid bits against their owner", harden=1),
    SysctlRule("fs.protected_fifos", 1, None, "FIFOs planted in sticky directories capture "
               "writes meant for files", harden=1),
    SysctlRule("fs.protected_regular", 1, None, "regular files planted in sticky "
               "directories capture O_CREAT opens", harden=1),
    SysctlRule("fs.suid_dumpable", 0, 0, "core dumps of setuid programs leak their memory",
               harden=0),
    SysctlRule("vm.mmap_min_addr", 65536, None, "mapping page zero turns kernel NULL "
               "dereferences into code execution", harden=65536),
    SysctlRule("net.ipv4.conf.all.accept_redirects", 0, 0, "an ICMP redirect from a "
               "container's network can reroute the host's traffic", harden=0),
    SysctlRule("net.ipv4.conf.all.send_redirects", 0, 0, "the host is not a router for "
               "other hosts; redirects tell neighbours about container routes", harden=0),
    # 2 (loose) rather than 1: strict mode can drop asymmetric traffic on multi-homed hosts
    SysctlRule("net.ipv4.conf.all.rp_filter", 1, 2, "without reverse-path filtering a "
               "container may send packets with another network's source address",
               harden=2),
)

RISKY: tuple[tuple[str, str], ...] = (
    ("kernel.modules_disabled", "sysctl -w kernel.modules_disabled=1 (one way until reboot: "
     "no module, such as a netfilter or filesystem one, can be loaded afterwards)"),
)


def parse_int(raw: str | None) -> int | None:
    """A sysctl's first number ("2\\n" -> 2); None when absent or not a number."""
    if raw is None:
        return None
    match = re.fullmatch(r"\s*(-?\d+)(?:\s.*)?", raw, re.DOTALL)
    return int(match.group(1)) if match else None


def judge_sysctl(rule: SysctlRule, raw: str | None) -> Item:
    """`raw` is the file's text, None when the kernel has no such sysctl."""
    if raw is None:
        return Item(rule.name, "sysctl", "n/a", "absent",
                    f"not in this kernel ({rule.path} does not exist)")
    value = parse_int(raw)
    shown = raw.strip()
    if value is None:
        return Item(rule.name, "sysctl", "fail", shown, f"unreadable value; wanted "
                    f"{rule.wanted}")
    ok = rule.low <= value and (rule.high is None or value <= rule.high)
    reason = f"wanted {rule.wanted}" if ok else f"wanted {rule.wanted}: {rule.why}"
    return Item(rule.name, "sysctl", "pass" if ok else "fail", shown, reason)


def judge_keys(maxkeys: int | None, maxbytes: int | None, containers: int,
               held: int | None, uid: int) -> Item:
    """runc gives every container a session keyring charged to the host uid its root maps
    to (the engine's id base, shared by every container); kernel.keys.maxkeys and maxbytes
    are that uid's quota, so they must hold one key per container."""
    name = "kernel.keys quota"
    if maxkeys is None or maxbytes is None:
        return Item(name, "keys", "n/a", "absent", "kernel built without key quotas")
    # what the uid holds now goes in the reason: it moves with every container, the
    # evidence is what drift compares
    evidence = f"maxkeys={maxkeys} maxbytes={maxbytes}; {containers} containers configured"
    holds = f"uid {uid} holds {'?' if held is None else held} keys"
    need_bytes = containers * KEY_BYTES
    fits = min(maxkeys, maxbytes // KEY_BYTES)
    if fits < containers:
        return Item(name, "keys", "fail", evidence, f"only about {fits} containers get a "
                    f"session keyring; raise to maxkeys>={containers} "
                    f"maxbytes>={need_bytes} ({holds})")
    return Item(name, "keys", "pass", evidence, f"room for one keyring per container "
                f"(needs maxkeys>={containers}, maxbytes>={need_bytes}; {holds})")


def parse_key_users(text: str) -> dict[int, tuple[int, int, int]]:
    """/proc/key-users: uid -> (keys held, maxkeys, maxbytes) of that uid."""
    found: dict[int, tuple[int, int, int]] = {}
    for line in text.splitlines():
        match = re.match(r"\s*(\d+):\s+\d+\s+\d+/\d+\s+(\d+)/(\d+)\s+\d+/(\d+)", line)
        if match:
            uid, held, keys, size = (int(g) for g in match.groups())
            found[uid] = (held, keys, size)
    return found


def lsm_names(ids: Iterable[int]) -> tuple[str, ...]:
    return tuple(LSM_IDS.get(i, f"lsm#{i}") for i in ids)


def judge_lsms(active: tuple[str, ...] | None, source: str, lockdown: str | None,
               landlock_abi: int) -> list[Item]:
    """The LSMs containers lean on. `active` is the kernel's list (None: unknown, with
    `source` saying why); `lockdown` the text of /sys/kernel/security/lockdown."""
    items: list[Item] = []
    shown = ",".join(active) if active is not None else "unknown"
    evidence = f"{shown} ({source})"

    def member(name: str, why: str, extra: str = "") -> Item:
        if active is None:
            return Item(f"lsm.{name}", "lsm", "n/a", evidence, f"active LSMs unknown: {source}")
        ok = name in active
        return Item(f"lsm.{name}", "lsm", "pass" if ok else "fail", evidence + extra,
                    "active" if ok else f"not active: {why}")

    items.append(member("apparmor", "no per-container AppArmor profile; Stockade uses "
                        "Landlock for file access instead"))
    items.append(member("landlock", "no unprivileged sandboxing of paths and TCP ports",
                        f"; ABI {landlock_abi}"))
    items.append(member("bpf", "no BPF LSM programs (KRSI) can watch or deny kernel "
                        "operations"))
    mode = parse_lockdown(lockdown)
    if mode is None:
        items.append(Item("lsm.lockdown", "lsm", "n/a", "lockdown mode unreadable",
                          "securityfs has no lockdown file here"))
    else:
        ok = mode in ("integrity", "confidentiality")
        items.append(Item("lsm.lockdown", "lsm", "pass" if ok else "fail", f"mode {mode}",
                          "root cannot modify the running kernel" if ok else
                          "root (a container escapee) can write kernel memory, load unsigned "
                          "modules and kexec; boot with lockdown=integrity"))
    return items


def parse_lockdown(text: str | None) -> str | None:
    """"none [integrity] confidentiality" -> "integrity"."""
    if text is None:
        return None
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else None


def judge_cgroups(version: int, controllers: tuple[str, ...], delegated: tuple[str, ...] | None
                  ) -> list[Item]:
    """v2 lets the daemon's subtree be delegated and bounded; v1 has no delegation boundary
    and lacks per-cgroup PSI and memory.high. `delegated` is the root's subtree_control (v2)
    or None on v1, where every mounted hierarchy is usable."""
    version_item = Item("cgroups.version", "cgroups", "pass" if version == 2 else "fail",
                        f"v{version}", "unified hierarchy" if version == 2 else
                        "cgroup v1: no delegation boundary; boot with "
                        "systemd.unified_cgroup_hierarchy=1 for v2")
    usable = delegated if delegated is not None else controllers
    missing = [c for c in REQUIRED_CONTROLLERS if c not in usable]
    evidence = (f"available: {','.join(controllers)}; delegated to children: "
                f"{','.join(delegated)}" if delegated is not None
                else f"mounted: {','.join(controllers)}")
    controllers_item = Item("cgroups.controllers", "cgroups", "fail" if missing else "pass",
                            evidence, f"missing {','.join(missing)}: limits not enforced"
                            if missing else f"{','.join(REQUIRED_CONTROLLERS)} usable")
    return [version_item, controllers_item]


def mount_of(mountinfo: str, path: str) -> tuple[str, frozenset[str]] | None:
    """The mount point holding `path` (absolute, resolved) and its per-mount options, from
    /proc/self/mountinfo text; the last mount on the longest matching point wins, as the
    kernel stacks them."""
    best: tuple[str, frozenset[str]] | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        point = _unescape(fields[4])
        inside = point in (path, "/") or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, frozenset(fields[5].split(",")))
    return best


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def judge_mount(label: str, path: str, found: tuple[str, frozenset[str]] | None) -> Item:
    name = f"mount.{label}"
    if found is None:
        return Item(name, "mount", "n/a", path, "no mount holds this path")
    point, options = found
    missing = [o for o in ("nodev", "nosuid") if o not in options]
    evidence = f"{path} on {point} ({','.join(sorted(options))})"
    if missing:
        return Item(name, "mount", "fail", evidence, f"no {','.join(missing)}: a device node "
                    "or setuid file landing here is honoured; put it on its own filesystem "
                    f"mounted nodev,nosuid (mount -o remount,nodev,nosuid {point})")
    return Item(name, "mount", "pass", evidence, "nodev,nosuid")


def judge_tool(name: str, available: bool | None, detail: str) -> Item:
    """`available` None: the tool is not used or not installed, so nothing to judge."""
    if available is None:
        return Item(f"tool.{name}", "tools", "n/a", detail.partition(";")[0], detail)
    return Item(f"tool.{name}", "tools", "pass" if available else "fail", detail, detail)


def judge_packages(findings: list[dict[str, Any]] | None, packages: int, why_none: str
                   ) -> Item:
    """`findings` None: no database to match against (`why_none` says why)."""
    if findings is None:
        return Item("packages.vulnerabilities", "packages", "n/a", f"{packages} packages",
                    why_none)
    if not findings:
        return Item("packages.vulnerabilities", "packages", "pass", f"{packages} packages",
                    "no known vulnerability in the loaded database")
    shown = ", ".join(f"{f['package']} {f['installed']} {f['id']}" for f in findings[:5])
    more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
    return Item("packages.vulnerabilities", "packages", "fail",
                f"{len(findings)} findings: {shown}{more}",
                "installed packages have known vulnerabilities; upgrade them")


@dataclass(frozen=True)
class Report:
    items: list[Item]
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def judged(self) -> list[Item]:
        return [i for i in self.items if i.status != "n/a"]

    @property
    def failed(self) -> list[str]:
        return [i.name for i in self.items if i.status == "fail"]

    @property
    def passed(self) -> int:
        return sum(1 for i in self.items if i.status == "pass")

    def summary(self) -> str:
        """The one line the daemon logs at start and `stockade info` shows."""
        line = f"host baseline {self.passed}/{len(self.judged)} passed"
        return line + (f"; failed: {', '.join(self.failed)}" if self.failed else "")

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "passed": self.passed, "judged": len(self.judged),
                "failed": self.failed, "items": [i.as_dict() for i in self.items],
                "findings": self.findings}


def drifted(before: Report, after: Report) -> list[tuple[Item, Item]]:
    """Items that passed before and do not now, or whose passing value changed: the host
    was changed after the check (a snowflake in the making)."""
    now = {i.name: i for i in after.items}
    changes: list[tuple[Item, Item]] = []
    for old in before.items:
        new = now.get(old.name)
        if old.status == "pass" and new is not None and new.evidence != old.evidence:
            changes.append((old, new))
    return changes

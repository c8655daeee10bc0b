"""Landlock's audit records: parsing real records, putting events together, the hint each
denial gets, the per-container rate limit, and the host-wide audit switch."""

import struct
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.engine import landlock_events as events
from stockade.engine.landlock_events import LandlockEvents, RateLimiter, cgroup_handle, hint
from stockade.host import kaudit
from stockade.host.kaudit import AuditStatus, AuditSwitch, Denial, DomainGone, Record

# Captured on the development VM (Linux 6.18, Landlock ABI 7) from the audit multicast
# group: a container that ran `nc -l -p 8080` with no --listen, and one with
# --connect-ports 443 that connected to 5432, wrote /etc/x and ran a copy in /tmp.
CONTAINER_BIND = [
    (1423, "audit(1796451757.791:60): domain=15095d37a blockers=net.bind_tcp src=8080"),
    (1424, "audit(1796451757.791:60): domain=15095d37a status=allocated mode=enforcing "
           'pid=9041 uid=1002000 exe="/.stockade/init" comm="init"'),
    (1300, "audit(1796451757.791:60): arch=c000003e syscall=49 success=no exit=-13 a0=3 "
           "a1=1a310714 a2=1c a3=7fff0a7a7eac items=0 ppid=9041 pid=9055 auid=4294967295 "
           "uid=1002000 gid=1002000 euid=1002000 suid=1002000 fsuid=1002000 egid=1002000 "
           "sgid=1002000 fsgid=1002000 tty=(none) ses=4294967295 comm=\"nc\" "
           'exe="/bin/busybox" key=(null)'),
    (1327, "audit(1796451757.791:60): proctitle=6E63002D6C002D700038303830"),
    (1320, "audit(1796451757.791:60): "),
    (1424, "audit(1796451757.855:61): domain=15095d37a status=deallocated denials=1"),
]
CONNECT = (1423, "audit(1796451757.923:64): domain=15095d380 blockers=net.connect_tcp "
                 "daddr=127.0.0.1 dest=5432")
MAKE_REG = (1423, 'audit(1796451757.927:65): domain=15095d380 blockers=fs.make_reg path="/etc" '
                  'dev="overlay" ino=3')
EXECUTE = (1423, 'audit(1796451757.927:66): domain=15095d380 blockers=fs.execute '
                 'path="/tmp/bb" dev="overlay" ino=265')
REMOVE = (1423, 'audit(1796451425.502:21): domain=15095d30b blockers=fs.remove_file path="/etc" '
                'dev="vda" ino=19')
# AUDIT_GET's reply on the VM with audit off: mask, enabled, failure, pid, rate_limit,
# backlog_limit, lost, backlog, feature_bitmap, backlog_wait_time, backlog_wait_time_actual
STATUS_OFF = struct.pack("=11I", 0, 0, 1, 0, 0, 64, 0, 0, 127, 15000, 0)


def record(kind: int, text: str) -> Record:
    parsed = kaudit.parse_record(kind, text.encode() + b"\0")
    assert parsed is not None
    return parsed


def denial_of(*records: tuple[int, str]) -> Denial:
    assembler = kaudit.Assembler()
    out = [item for kind, text in records for item in assembler.feed(record(kind, text), 0.0)]
    out += assembler.expire(10.0)
    assert len(out) == 1 and isinstance(out[0], Denial)
    return out[0]


# -- parsing ------------------------------------------------------------------------------


def test_a_record_has_its_time_serial_and_fields() -> None:
    parsed = record(*CONTAINER_BIND[0])
    assert (parsed.kind, parsed.serial, parsed.time) == (1423, 60, 1796451757.791)
    assert parsed.fields == {"domain": "15095d37a", "blockers": "net.bind_tcp", "src": "8080"}
    assert record(*CONTAINER_BIND[2]).fields["exe"] == "/bin/busybox"  # quotes removed


def test_untrusted_strings_in_hex_are_decoded_and_numbers_are_not() -> None:
    # the kernel writes a path with a space or quote in hex, without quotes
    fields = kaudit.parse_fields('path=2F746D702F6120622E comm="a" ino=1234 dev="vda"')
    assert fields == {"path": "/tmp/a b.", "comm": "a", "ino": "1234", "dev": "vda"}


def test_text_without_the_audit_prefix_is_not_a_record() -> None:
    assert kaudit.parse_record(1423, b"domain=1 blockers=net.bind_tcp src=1") is None


def test_the_status_reply_and_the_requests_have_the_kernels_layout() -> None:
    status = AuditStatus.from_bytes(STATUS_OFF)
    assert (status.enabled, status.failure, status.pid, status.backlog_limit) == (0, 1, 0, 64)
    message = kaudit.request(kaudit.AUDIT_SET, 7, kaudit.set_enabled_body(1))
    assert struct.unpack_from("=LHHLL", message) == (16 + 32, 1001, 5, 7, 0)
    assert struct.unpack_from("=2I", message, 16) == (kaudit.AUDIT_STATUS_ENABLED, 1)
    assert list(kaudit.messages(message + message)) == [(1001, message[16:])] * 2


# -- events -------------------------------------------------------------------------------


def test_the_records_of_one_denial_come_together() -> None:
    denial = denial_of(*CONTAINER_BIND[:5])
    assert (denial.domain, denial.blockers, denial.fields) == (
        "15095d37a", ("net.bind_tcp",), {"src": "8080"})
    assert (denial.domain_pid, denial.pid, denial.ppid) == (9041, 9055, 9041)
    assert (denial.exe, denial.comm, denial.serial) == ("/bin/busybox", "nc", 60)


def test_a_freed_domain_is_reported() -> None:
    assembler = kaudit.Assembler()
    assert assembler.feed(record(*CONTAINER_BIND[5]), 0.0) == [DomainGone("15095d37a")]


def test_interleaved_events_are_kept_apart_by_serial() -> None:
    assembler = kaudit.Assembler()
    second = [(kind, text.replace(":60)", ":70)").replace("pid=9055", "pid=9999"))
              for kind, text in CONTAINER_BIND[:5]]
    order = [CONTAINER_BIND[0], second[0], second[1], CONTAINER_BIND[1], second[2],
             CONTAINER_BIND[2], second[3], second[4], CONTAINER_BIND[3], CONTAINER_BIND[4]]
    out = [item for kind, text in order for item in assembler.feed(record(kind, text), 0.0)]
    assert [(d.serial, d.pid) for d in out if isinstance(d, Denial)] == [(70, 9999), (60, 9055)]


def test_an_event_whose_end_never_comes_is_reported_after_the_timeout() -> None:
    assembler = kaudit.Assembler(timeout_s=1.0)
    assert assembler.feed(record(*CONNECT), 0.0) == []
    assert assembler.expire(0.5) == []
    (late,) = assembler.expire(1.0)
    assert isinstance(late, Denial) and late.pid is None and late.fields["dest"] == "5432"


def test_records_of_other_events_are_ignored() -> None:
    assembler = kaudit.Assembler()
    for kind, text in CONTAINER_BIND[1:5]:  # no ACCESS record: not a Landlock denial
        assert assembler.feed(record(kind, text), 0.0) == []
    assert assembler.expire(100.0) == []


# -- hints --------------------------------------------------------------------------------


def test_a_refused_bind_names_the_port_and_how_to_declare_it() -> None:
    assert hint(denial_of(*CONTAINER_BIND[:5])) == (
        "bind tcp/8080 refused by Landlock: declare it with --listen 8080 or -p 8080")


def test_a_refused_connect_names_the_port_and_the_option() -> None:
    assert hint(denial_of(CONNECT)) == (
        "connect tcp/5432 to 127.0.0.1 refused by Landlock: add 5432 to --connect-ports")


@pytest.mark.parametrize(("raw", "text"), [
    (MAKE_REG, "create a file in /etc refused by Landlock"),
    (EXECUTE, "execute on /tmp/bb refused by Landlock"),
    (REMOVE, "remove a file in /etc refused by Landlock"),
])
def test_a_refused_file_access_names_the_access_and_the_path(
        raw: tuple[int, str], text: str) -> None:
    assert hint(denial_of(raw)) == text


def test_several_blockers_and_unknown_ones_still_read() -> None:
    both = replace(denial_of(EXECUTE), blockers=("fs.write_file", "fs.truncate"))
    assert hint(both) == "write and truncate on /tmp/bb refused by Landlock"
    odd = Denial(serial=1, time=0, domain="1", blockers=("scope.signal",),
                 fields={"opid": "7", "ocomm": "x"})
    assert hint(odd) == "scope.signal refused by Landlock (opid=7 ocomm=x)"


def test_the_cgroup_file_names_the_handle_under_our_parent_only() -> None:
    v1 = "12:pids:/stk-t1/web\n11:memory:/stk-t1/web\n1:name=systemd:/\n"
    assert cgroup_handle(v1, "stk-t1") == "web"
    assert cgroup_handle(v1, "stk-t2") is None
    assert cgroup_handle("0::/stk-t1/db\n", "stk-t1") == "db"
    assert cgroup_handle("0::/stk-t1/db/inner\n0::/stk-t1\n", "stk-t1") is None


# -- the rate limit -----------------------------------------------------------------------

_steps = st.lists(st.tuples(st.floats(0, 3, allow_nan=False), st.sampled_from("ab"),
                            st.booleans()), max_size=200)


@given(_steps, st.integers(1, 6), st.floats(0.5, 5))
def test_the_limit_holds_in_every_window_and_every_held_denial_is_counted(
        steps: list[tuple[float, str, bool]], limit: int, window: float) -> None:
    limiter = RateLimiter(limit, window)
    now = 0.0
    sent: dict[str, list[float]] = {"a": [], "b": []}
    counted = {"a": 0, "b": 0}
    offered = {"a": 0, "b": 0}
    for gap, key, is_denial in steps:
        now += gap
        for summary_key, count in limiter.summaries(now):  # the watch's order: summaries first
            sent[summary_key].append(now)
            counted[summary_key] += count
        if is_denial:
            offered[key] += 1
            if limiter.admit(key, now):
                sent[key].append(now)
                counted[key] += 1
    for key, times in sent.items():
        for start in times:
            assert sum(start <= t < start + window for t in times) <= limit
        assert counted[key] + limiter.held(key) == offered[key]


def test_a_burst_becomes_five_events_then_one_summary_when_the_window_reopens() -> None:
    limiter = RateLimiter(5, 10)
    assert [limiter.admit("a", 0.1 * i) for i in range(8)] == [True] * 5 + [False] * 3
    assert limiter.summaries(9.0) == []
    assert limiter.summaries(10.0) == [("a", 3)]
    # the summary took one slot of the window that began at 10
    assert [limiter.admit("a", 10.5) for _ in range(5)] == [True] * 4 + [False]


# -- the watch ----------------------------------------------------------------------------


@dataclass
class FakeEngine:
    inits: dict[int, str]
    known: set[str]
    added: list[tuple[str, str, str]]

    def init_pids(self, at: float) -> dict[int, str]:
        return self.inits

    def owns(self, handle: str) -> bool:
        return handle in self.known

    def add_container_event(self, handle: str, kind: str, detail: str) -> bool:
        self.added.append((handle, kind, detail))
        return handle in self.known


class FakeControl:
    """The kernel's audit switch, shared by every daemon in a test."""

    def __init__(self, enabled: int = 0, failure: int = 1, pid: int = 0) -> None:
        self.enabled, self.failure, self.pid = enabled, failure, pid
        self.changes: list[int] = []

    def __call__(self) -> "FakeControl":
        return self

    def status(self) -> AuditStatus:
        return AuditStatus(mask=0, enabled=self.enabled, failure=self.failure, pid=self.pid,
                           rate_limit=0, backlog_limit=64, lost=0, backlog=0)

    def set_enabled(self, enabled: int) -> None:
        self.enabled = enabled
        self.changes.append(enabled)

    def close(self) -> None:
        pass


class FakeReader:
    def __init__(self) -> None:
        self.closed = False

    def receive(self) -> list[Record]:
        return []

    def close(self) -> None:
        self.closed = True


def watch(tmp_path: Path, control: FakeControl, abi: int = 7, setting: events.Setting = "auto",
          engine: FakeEngine | None = None, holder: str = "me") -> LandlockEvents:
    switch = AuditSwitch(control, tmp_path, holder=holder, alive=lambda h: True)
    return LandlockEvents(engine or FakeEngine({}, set(), []), "stk-t1", abi, setting,
                          switch=switch, reader=FakeReader)


def test_off_and_old_kernels_say_why_and_leave_audit_alone(tmp_path: Path) -> None:
    control = FakeControl()
    assert watch(tmp_path, control, setting="off").open().status.detail == (
        "off: the server setting landlock_events is off")
    assert "Landlock ABI 6 writes no audit records (needs ABI 7" in \
        watch(tmp_path, control, abi=6).open().status.detail
    assert control.changes == []


def test_audit_is_not_turned_on_where_a_lost_record_would_panic_the_host(
        tmp_path: Path) -> None:
    control = FakeControl(failure=kaudit.AUDIT_FAIL_PANIC)
    opened = watch(tmp_path, control).open()
    assert not opened.status.available and "panic" in opened.status.detail
    assert control.changes == []


def test_audit_locked_on_is_used_and_never_changed(tmp_path: Path) -> None:
    control = FakeControl(enabled=kaudit.AUDIT_LOCKED)
    one = watch(tmp_path, control)
    assert one.open().status.detail.endswith("locked on")
    assert not one.close() and control.changes == []


def test_a_daemon_that_turned_audit_on_turns_it_off_when_it_stops(tmp_path: Path) -> None:
    control = FakeControl()
    one = watch(tmp_path, control)
    opened = one.open()
    assert opened.status.available and opened.claim is not None and opened.claim.turned_on
    assert control.enabled == 1
    assert one.close() and control.changes == [1, 0]
    assert not (tmp_path / kaudit.CLAIMS_FILE).exists()


def test_audit_someone_else_turned_on_stays_on(tmp_path: Path) -> None:
    control = FakeControl(enabled=1, pid=4242)  # an auditd
    one = watch(tmp_path, control)
    assert one.open().status.detail.endswith("already on")
    assert not one.close() and control.changes == []


@given(st.permutations(list("aabbcc")))
def test_daemons_in_any_order_keep_audit_on_while_one_runs_and_restore_it_after(
        order: list[str]) -> None:
    # each daemon's first appearance starts it, its second stops it
    with tempfile.TemporaryDirectory() as scratch:
        control = FakeControl()
        switches = {name: AuditSwitch(control, Path(scratch), holder=name,
                                      alive=lambda h: True) for name in "abc"}
        running: set[str] = set()
        for name in order:
            if name in running:
                switches[name].release()
                running.discard(name)
            else:
                switches[name].acquire()
                running.add(name)
            assert control.enabled == (1 if running else 0)
        assert control.changes[-1] == 0 and control.changes.count(1) >= 1


def test_a_holder_that_died_is_dropped_by_the_next_daemon(tmp_path: Path) -> None:
    control = FakeControl()
    dead = {"crashed"}
    crashed = AuditSwitch(control, tmp_path, holder="crashed", alive=lambda h: h not in dead)
    assert crashed.acquire().turned_on
    later = AuditSwitch(control, tmp_path, holder="later", alive=lambda h: h not in dead)
    claim = later.acquire()
    assert claim.held and not claim.turned_on  # on because stockade turned it on
    assert later.release() and control.enabled == 0


def test_a_holder_whose_record_was_wiped_still_restores_audit(tmp_path: Path) -> None:
    control = FakeControl()
    switch = AuditSwitch(control, tmp_path, holder="me", alive=lambda h: True)
    assert switch.acquire().turned_on
    (tmp_path / kaudit.CLAIMS_FILE).unlink()  # an operator cleared /run/stockade
    assert switch.release() and control.enabled == 0
    assert not switch.release()  # twice is fine


def test_denials_become_events_for_our_containers_only(tmp_path: Path) -> None:
    engine = FakeEngine({9041: "web"}, {"web"}, [])
    one = watch(tmp_path, FakeControl(), engine=engine)
    one.open()
    bind = denial_of(*CONTAINER_BIND[:5])
    one.handle(bind, 0.0)
    # the refused process and the init are gone: the domain is remembered
    engine.inits.clear()
    one.handle(replace(bind, domain_pid=None, ppid=None, pid=None), 0.1)
    foreign = replace(bind, domain="ffff", domain_pid=1, pid=1, ppid=0)  # pid 1: the host
    one.handle(foreign, 0.2)
    probe = replace(bind, exe="/.stockade/probe")
    one.handle(probe, 0.3)
    text = "bind tcp/8080 refused by Landlock: declare it with --listen 8080 or -p 8080"
    assert engine.added == [("web", events.KIND, text)] * 2
    one.handle(DomainGone(bind.domain), 0.4)
    one.handle(replace(bind, domain_pid=None, ppid=None, pid=None), 0.5)
    assert len(engine.added) == 2  # a freed domain names nothing any more
    one.close()


def test_a_flood_is_limited_and_summarised(tmp_path: Path) -> None:
    engine = FakeEngine({9041: "web"}, {"web"}, [])
    one = watch(tmp_path, FakeControl(), engine=engine)
    bind = denial_of(*CONTAINER_BIND[:5])
    for i in range(20):
        one.handle(bind, i * 0.01)
    assert len(engine.added) == events.LIMIT
    one.tick(events.WINDOW_S + 1)
    assert engine.added[-1] == ("web", events.KIND, "15 more Landlock denials suppressed")


def test_the_watch_stops_when_told(tmp_path: Path) -> None:
    one = watch(tmp_path, FakeControl())
    one.open()
    stop = threading.Event()
    stop.set()
    one.run(stop)
    assert one.close()

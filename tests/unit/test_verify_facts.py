"""The probe's output format, parsed."""

from hypothesis import given
from hypothesis import strategies as st

from stockade.spec.container import KNOWN_CAPABILITIES
from stockade.verify import capsets
from stockade.verify.facts import errno_name, parse_probe
from tests.unit.verify_evidence import probe


def test_a_real_probe_run_parses_completely() -> None:
    facts = probe()
    assert facts.complete and not facts.malformed
    assert facts.fact("status.CapBnd") == "00000000000005fb"
    assert facts.items("uid_map") == ("0 1000000 65536",)
    assert {a.name for a in facts.attempts} >= {"userns.clone3", "ptrace.attach", "bpf",
                                                 "landlock.etc_create", "mount.tmpfs"}
    assert any(m.path == "/proc/keys" and m.errno == 0 and m.size == 0 for m in facts.masked)
    assert all(d.kind == "c" for d in facts.devices)


def test_records_are_typed() -> None:
    text = ("attempt\tbpf\t1\tunknown command\nmasked\t/proc/keys\t0\t0\n"
            "readonly\t/proc/sys\t1\t-1\nreadonly\t/proc/sysrq-trigger\t-1\t2\n"
            "readonly\t/proc/irq/x\t1\t30\ndevice\t/dev/null\tc\t1:3\nend\tok\n")
    facts = parse_probe(text)
    assert facts.attempts[0].result == "EPERM"
    sys_, sysrq, irq = facts.readonly
    assert (sys_.read_only, sys_.write_errno) == (True, None)  # a directory: not opened
    assert (sysrq.read_only, sysrq.write_errno) == (None, 2)  # absent
    assert (irq.read_only, irq.write_errno) == (True, 30)
    assert (facts.devices[0].major, facts.devices[0].minor) == (1, 3)


def test_a_run_cut_short_is_incomplete_and_junk_is_kept_aside() -> None:
    facts = parse_probe("fact\tuid\t0\nattempt\tbpf\tnot-a-number\tx\nsegfault here\n")
    assert not facts.complete
    assert facts.fact("uid") == "0"
    assert facts.malformed == ("attempt\tbpf\tnot-a-number\tx", "segfault here")


@given(st.text())
def test_parsing_never_raises(text: str) -> None:
    parse_probe(text)


def test_errno_names() -> None:
    assert (errno_name(0), errno_name(1), errno_name(38)) == ("ok", "EPERM", "ENOSYS")
    assert errno_name(100000) == "errno 100000"
    # the probe reports an attempt killed by signal N as -N
    assert (errno_name(-31), errno_name(-200)) == ("killed by SIGSYS", "killed by signal 200")


def test_capability_table_matches_the_spec_names() -> None:
    assert set(capsets.NAMES) == KNOWN_CAPABILITIES
    assert capsets.BITS["CAP_SYS_ADMIN"] == 21 and capsets.BITS["CAP_CHECKPOINT_RESTORE"] == 40


@given(st.integers(min_value=0, max_value=(1 << len(capsets.NAMES)) - 1))
def test_masks_and_names_round_trip(value: int) -> None:
    assert capsets.mask(capsets.names(value)) == value


def test_unknown_bits_are_named_not_dropped() -> None:
    assert capsets.names(1 << 50) == {"bit 50"}
    assert capsets.parse_hex("zz") is None and capsets.parse_hex(None) is None

"""verify's rows for executing what the application wrote (issue 16 part 2): memfd
execution and noexec writable directories, judged from real captured probe output."""

from errno import EACCES, EPERM

from stockade.verify.facts import MountFlags, parse_probe
from stockade.verify.model import Status
from tests.unit.verify_evidence import by_id, evidence, expect, failing, probe, with_attempt

EXEC_ROWS = {"paths.noexec", "battery.30"}
MEMFD_ROWS = {"exec.memfd", "battery.29"}


def test_a_default_container_passes_both_rows() -> None:
    for name in ("default", "no-seccomp"):
        ev = evidence(facts=probe(name))
        for check_id in EXEC_ROWS | MEMFD_ROWS:
            assert by_id(ev, check_id).status == Status.PASS, by_id(ev, check_id)
    assert "mmap(PROT_EXEC) EPERM in 4" in by_id(evidence(), "paths.noexec").observed


def test_the_probe_records_parse() -> None:
    facts = parse_probe("mountflags\t/tmp\tnosuid,nodev,noexec\nmountflags\t/x\tabsent:2\n"
                        "mountflags\t/y\t-\nmountflags\t/z\n")
    assert facts.mountflags == (
        MountFlags(path="/tmp", flags=frozenset({"nosuid", "nodev", "noexec"})),
        MountFlags(path="/x", absent_errno=2), MountFlags(path="/y"))
    assert facts.malformed == ("mountflags\t/z",)


def _flags(path: str, flags: frozenset[str]) -> list[MountFlags]:
    return [m.model_copy(update={"flags": flags}) if m.path == path else m
            for m in probe().mountflags]


def test_a_writable_directory_without_noexec_fails_exactly_its_rows() -> None:
    facts = probe().model_copy(update={"mountflags": tuple(
        _flags("/tmp", frozenset({"nosuid", "nodev"})))})
    assert failing(evidence(facts=facts)) == EXEC_ROWS
    assert "/tmp lacks noexec" in by_id(evidence(facts=facts), "paths.noexec").observed


def test_a_mapping_that_succeeded_fails_even_with_the_flags_shown() -> None:
    facts = with_attempt(probe(), "exec.mmap", 0)
    assert failing(evidence(facts=facts)) == EXEC_ROWS


def test_a_writable_directory_the_probe_did_not_report_is_not_a_pass() -> None:
    ev = evidence(expected=expect(writable_paths=["/srv/data"]))
    assert by_id(ev, "paths.noexec").status != Status.PASS


def test_an_executable_memfd_fails_where_the_kernel_has_the_setting() -> None:
    facts = with_attempt(probe(), "memfd.execveat", 0)
    assert failing(evidence(facts=facts)) == MEMFD_ROWS
    loose = probe().model_copy(update={"facts": {**probe().facts, "memfd.noexec": "0"}})
    assert failing(evidence(facts=loose)) == MEMFD_ROWS


def test_a_kernel_without_the_setting_is_a_gap_not_a_pass() -> None:
    old = with_attempt(with_attempt(probe(), "memfd.execveat", 0), "memfd.chmod", 0)
    old = old.model_copy(update={"facts": {**old.facts, "memfd.noexec": "absent"}})
    check = by_id(evidence(facts=old), "exec.memfd")
    assert check.status == Status.GAP and "Linux 6.3" in check.observed


def test_refusals_by_either_errno_pass() -> None:
    for errno in (EACCES, EPERM):
        facts = with_attempt(probe(), "memfd.create_exec", errno)
        assert by_id(evidence(facts=facts), "exec.memfd").status == Status.PASS

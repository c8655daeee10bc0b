"""The engine's phase log: laps add up per phase, old containers are forgotten."""

import time

from stockade.engine.phases import PhaseLog


def test_laps_accumulate_per_phase_in_first_run_order() -> None:
    log = PhaseLog()
    log.mark("a", fresh=True)
    time.sleep(0.01)
    log.lap("a", "network")
    log.lap("a", "policy")
    time.sleep(0.01)
    log.lap("a", "network")
    phases = log.of("a")
    assert list(phases) == ["network", "policy"]
    assert phases["network"] >= 0.02
    assert phases["policy"] < 0.01


def test_a_later_operation_adds_to_the_record_and_fresh_starts_over() -> None:
    log = PhaseLog()
    log.mark("a", fresh=True)
    log.lap("a", "runc create")
    log.mark("a")  # e.g. destroy, later
    log.lap("a", "teardown")
    assert set(log.of("a")) == {"runc create", "teardown"}
    log.mark("a", fresh=True)  # a new container of the same name
    assert log.of("a") == {}


def test_laps_without_a_mark_are_ignored_and_only_recent_handles_are_kept() -> None:
    log = PhaseLog(keep=2)
    log.lap("never", "x")
    assert log.of("never") == {}
    for handle in ("a", "b", "c"):
        log.mark(handle, fresh=True)
        log.lap(handle, "state")
    assert log.of("a") == {}
    assert set(log.of("c")) == {"state"}

"""An init's end is written once, and only for the run it belongs to: a reader that took
the record before a restart must not end the new run (the daemon's sweep races restart)."""

from pathlib import Path

from stockade.engine.state import ExitStatus, StateStore
from stockade.spec import ContainerSpec


def test_an_end_is_written_once_and_never_over_a_later_run(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.db")
    state.insert(ContainerSpec(handle="again"))
    state.update("again", state="running", pid=100)
    stale = state.get("again")
    assert state.record_exit("again", ExitStatus(0, False, 1.0), stale.pid)
    assert not state.record_exit("again", ExitStatus(9, False, 2.0), stale.pid)  # once
    assert state.get("again").ended == ExitStatus(0, False, 1.0)

    state.clear_exit("again")  # a restart: the old run's reader still holds pid 100
    assert not state.record_exit("again", ExitStatus(137, False, 3.0), stale.pid)
    state.update("again", pid=200)
    assert not state.record_exit("again", ExitStatus(137, False, 3.0), stale.pid)
    assert state.get("again").finished_at is None
    assert state.record_exit("again", ExitStatus(1, False, 4.0), 200)
    assert state.get("again").ended == ExitStatus(1, False, 4.0)

"""After a daemon restart: which records are whole, and which missed their own start."""

from pathlib import Path

import pytest

from stockade.engine.recovery import is_complete, started_unrecorded
from stockade.engine.state import Record
from stockade.spec import ContainerSpec


def record(state: str) -> Record:
    return Record(handle="c", spec=ContainerSpec(handle="c"), state=state, pid=None,
                  command="[]", created_at=0.0, started_at=None)


@pytest.mark.parametrize(("state", "runc", "missed"), [
    ("created", {"status": "running"}, True),    # killed between runc start and the record
    ("created", {"status": "created"}, False),   # killed before runc start
    ("created", None, False),
    ("running", {"status": "running"}, False),
])
def test_a_start_runc_made_but_nobody_recorded_is_noticed(
        state: str, runc: dict[str, str] | None, missed: bool) -> None:
    assert started_unrecorded(record(state), runc) is missed


def test_half_created_records_are_not_whole(tmp_path: Path) -> None:
    assert not is_complete(record("creating"), tmp_path, True, True)
    assert not is_complete(record("created"), tmp_path / "gone", True, True)
    assert not is_complete(record("running"), tmp_path, False, False)  # runc lost it


def test_a_known_exit_or_a_runc_container_is_whole(tmp_path: Path) -> None:
    """Whether its monitor lives does not matter: a lost monitor is handled, not torn down."""
    assert is_complete(record("running"), tmp_path, True, False)
    assert is_complete(record("running"), tmp_path, False, True)

"""An exec's process: cwd, rlimits and the terminal size on top of the init's hardening."""

import pytest

from stockade.errors import InvalidSpec
from stockade.policy.exec import exec_process
from tests.unit.test_policy import compile_default


def _limits(process: dict[str, object]) -> dict[str, tuple[int, int]]:
    items = process["rlimits"]
    assert isinstance(items, list)
    return {item["type"]: (item["soft"], item["hard"]) for item in items}


def test_rlimits_may_tighten_and_add_but_never_raise_a_hard_limit() -> None:
    base = compile_default()["process"]
    inherited = _limits(base)
    process = exec_process(base, ["id"], {}, terminal=False, rlimits={"nofile": 64, "nproc": 9})
    limits = _limits(process)
    assert limits["RLIMIT_NOFILE"] == (64, 64) and limits["RLIMIT_NPROC"] == (9, 9)
    assert limits["RLIMIT_CORE"] == inherited["RLIMIT_CORE"]
    with pytest.raises(InvalidSpec, match="hard limit"):
        exec_process(base, ["id"], {}, terminal=False, rlimits={"core": 1})
    too_many = inherited["RLIMIT_NOFILE"][1] + 1
    with pytest.raises(InvalidSpec, match="hard limit"):
        exec_process(base, ["id"], {}, terminal=False, rlimits={"nofile": too_many})
    assert _limits(base) == inherited  # the init's config is untouched


def test_cwd_and_console_size() -> None:
    base = compile_default()["process"]
    process = exec_process(base, ["sh"], {}, terminal=True, cwd="/tmp", console_size=(33, 99))
    assert process["cwd"] == "/tmp"
    assert process["consoleSize"] == {"height": 33, "width": 99}
    plain = exec_process(base, ["sh"], {}, terminal=False, console_size=(33, 99))
    assert "consoleSize" not in plain and plain["cwd"] == base["cwd"]

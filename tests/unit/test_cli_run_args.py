"""How `run` and `create` split their positionals into the image and the command: docker's
`IMAGE [COMMAND...]`, `-- COMMAND...` for the embedded image, and `--image` as an alias;
options stop at the first positional, and an option's value may begin with `-`."""

from typing import Any

import pytest
from pydantic import ValidationError

from stockade.cli import session
from stockade.cli.containers import log_options
from stockade.errors import InvalidSpec
from stockade.spec import ContainerSpec
from stockade.spec.validation import first_error
from tests.unit.clikit import invoke


class _Recorder:
    """Stands in for the daemon's create: the CLI sends the spec's JSON, and the daemon
    checks it with the same model and says what is wrong in one line (api/errors.py)."""

    def __init__(self) -> None:
        self.specs: list[ContainerSpec] = []
        self.socket = "/nonexistent"

    def create_json(self, spec: dict[str, Any], **_: Any) -> dict[str, Any]:
        try:
            self.specs.append(ContainerSpec.model_validate(spec))
        except ValidationError as exc:
            raise InvalidSpec(first_error(exc.errors(),
                                          located="invalid {where}: {message}")) from None
        return {}

    def __enter__(self) -> "_Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorded = _Recorder()
    monkeypatch.setattr(session, "open_json", lambda options: recorded)
    return recorded


@pytest.mark.parametrize(("args", "image", "command"), [
    (["--", "echo", "hi"], "busybox", ["echo", "hi"]),
    (["--", "sh", "-c", "echo -- x"], "busybox", ["sh", "-c", "echo -- x"]),
    (["busybox", "echo", "hi"], "busybox", ["echo", "hi"]),
    (["alpine:3", "ls", "-l", "--", "/"], "alpine:3", ["ls", "-l", "--", "/"]),
    (["alpine"], "alpine", []),
    ([], "busybox", []),
    (["--name", "n", "-e", "A=1", "alpine", "env"], "alpine", ["env"]),
    (["--image", "alpine", "--", "echo", "hi"], "alpine", ["echo", "hi"]),
    (["--image", "alpine", "echo", "hi"], "alpine", ["echo", "hi"]),
    (["--name", "n", "--", "alpine"], "busybox", ["alpine"]),
    (["-e", "A=1", "busybox", "sh", "-e", "-x"], "busybox", ["sh", "-e", "-x"]),  # the command's
    (["--name=n", "-m64M", "busybox", "--name", "x"], "busybox", ["--name", "x"]),
])
@pytest.mark.parametrize("verb", [["run", "-d"], ["create"]])
def test_the_first_positional_is_the_image_unless_after_dashes(
        recorder: _Recorder, capsys: pytest.CaptureFixture[str], verb: list[str],
        args: list[str], image: str, command: list[str]) -> None:
    code, out, err = invoke(capsys, *verb, *args)
    assert code == 0, err
    (spec,) = recorder.specs
    assert (spec.image, spec.process.args) == (image, command)
    assert out == f"{spec.handle}\n"


def test_options_reach_the_spec(recorder: _Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(capsys, "run", "-dit", "--name", "web", "-m", "256M", "--pids", "48",
                          "-e", "A=1", "-eB=2", "-v", "/srv/a:/a", "-p", "8080:80/udp",
                          "--security-group", "g1", "--log-opt", "max-file=3",
                          "--cap-add", "NET_RAW", "busybox", "sleep", "1")
    assert code == 0, err
    (spec,) = recorder.specs
    assert spec.handle == "web" and spec.process.terminal
    assert (spec.limits.memory_bytes, spec.limits.pids) == (256 << 20, 48)
    assert spec.process.env == {"A": "1", "B": "2"}
    assert [(m.host_path, m.read_only) for m in spec.mounts] == [("/srv/a", True)]
    assert [(p.host_port, p.protocol) for p in spec.ports] == [(8080, "udp")]
    assert spec.security_groups == ["g1"] and spec.log.max_files == 3
    assert spec.cap_add == ["CAP_NET_RAW"]


@pytest.mark.parametrize(("args", "message"), [
    (["--memory", "-5M"], "memory"),  # the value, though it begins with '-', reaches validation
    (["--pids", "-1"], "pids"),
    (["--disk", "lots"], "malformed size"),
    (["--log-opt", "size=1m"], "--log-opt"),
])
def test_a_bad_value_is_one_line_and_125(recorder: _Recorder,
                                         capsys: pytest.CaptureFixture[str], args: list[str],
                                         message: str) -> None:
    code, out, err = invoke(capsys, "run", *args, "--", "true")
    assert code == 125 and out == ""
    assert err.count("\n") == 1 and err.startswith("stockade: error: ") and message in err
    assert recorder.specs == []


@pytest.mark.parametrize("args", [["run", "--bogus"], ["ps", "extra"], ["destroy"],
                                  ["exec"], ["bogus"], ["stop", "--time", "soon", "x"],
                                  ["audit", "--tail", "-1"]])
def test_a_line_that_cannot_be_read_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                     args: list[str]) -> None:
    code, out, err = invoke(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("usage: stockade") and "error:" in err


@pytest.mark.parametrize("verb", ["run", "create"])
def test_help_shows_readable_placeholders(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, verb: str) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    for flag in ("--help", "-h"):
        code, shown, _ = invoke(capsys, verb, flag)
        assert code == 0
        options = shown[shown.index("options:"):]
        for placeholder in ("SIZE", "HOST:CONTAINER[:ro|:rw]", "HOST:CONTAINER[/udp]",
                            "NAME=VALUE", "IMAGE", "PORTS", "CAP"):
            assert f" {placeholder}" in options, placeholder
        assert "-m, --memory SIZE" in options and "-v, --volume HOST:CONTAINER[:ro|:rw]" in options
        assert not any(word in shown for word in ("<list[str]>", "<bool>", "<str>", "<path>"))
        usage = shown.splitlines()[:2]
        assert usage == [f"usage: stockade {verb} [OPTIONS] IMAGE [COMMAND [ARG...]]",
                         f"       stockade {verb} [OPTIONS] -- COMMAND [ARG...]"]


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    from stockade import __version__

    assert invoke(capsys, "--version") == (0, f"stockade {__version__}\n", "")
    code, out, _ = invoke(capsys, "-h")
    assert code == 0 and "commands:" in out and "security-group" in out
    code, out, err = invoke(capsys)  # no command: the help, with a usage error's code
    assert (code, err) == (2, "") and "commands:" in out
    code, out, err = invoke(capsys, "image")
    assert code == 2 and "build-base" in out


def test_log_options_take_dockers_names() -> None:
    from stockade.spec import LogOptions

    assert LogOptions.model_validate(log_options(["max-size=1m", "max-file=3"])) == \
        LogOptions(max_bytes=1 << 20, max_files=3)
    for bad in (["max-size"], ["size=1m"], ["max-files=2"]):
        with pytest.raises(InvalidSpec, match="--log-opt"):
            log_options(bad)
    with pytest.raises(ValueError, match="64K"):
        LogOptions.model_validate(log_options(["max-size=1k"]))

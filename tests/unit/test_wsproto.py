"""The process-stream protocol: frames, control and exit messages, close codes."""

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.errors import Conflict, InvalidSpec, NotFound, StockadeError
from stockade.wire import stream as wsproto
from stockade.wire.process import ProcessRequest, SignalRequest
from stockade.wire.signals import signal_number
from stockade.wire.stream import Control, ExitMessage, ProtocolError, Size, Stream


@given(st.sampled_from(Stream), st.binary())
def test_output_frames_round_trip(stream: Stream, data: bytes) -> None:
    frame = wsproto.encode_output(stream, data)
    assert frame[0] == stream
    assert wsproto.decode_output(frame) == (stream, data)


@given(st.binary())
def test_decoding_arbitrary_bytes_never_crashes(frame: bytes) -> None:
    try:
        stream, data = wsproto.decode_output(frame)
    except ProtocolError:
        assert not frame or frame[0] not in (1, 2)
    else:
        assert (stream, data) == (frame[0], frame[1:])


@given(st.one_of(st.text(), st.binary()))
def test_parsing_arbitrary_text_never_crashes(text: str | bytes) -> None:
    for parse in (wsproto.parse_control, wsproto.parse_exit):
        with contextlib.suppress(ProtocolError):
            parse(text)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                     lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                     max_leaves=20)


@given(st.dictionaries(st.sampled_from(["eof", "resize", "signal", "other"]), _json))
def test_control_json_is_valid_or_refused_cleanly(message: dict[str, object]) -> None:
    try:
        control = wsproto.parse_control(json.dumps(message))
    except ProtocolError:
        return
    assert len(message) == 1  # exactly one field made it through
    assert wsproto.parse_control(wsproto.encode_message(control)) == control


def test_deep_nesting_is_a_protocol_error_not_a_recursion_crash() -> None:
    with pytest.raises(ProtocolError):
        wsproto.parse_control("[" * 2000 + "]" * 2000)
    with pytest.raises(ProtocolError, match="at most"):
        wsproto.parse_control(" " * (wsproto.MAX_CONTROL_CHARS + 1))


@pytest.mark.parametrize("text, expected", [
    ('{"eof": true}', Control(eof=True)),
    ('{"resize": {"rows": 24, "cols": 80}}', Control(resize=Size(rows=24, cols=80))),
    ('{"signal": "INT"}', Control(signal="INT")),
    ('{"signal": "sigterm"}', Control(signal="TERM")),
])
def test_control_messages(text: str, expected: Control) -> None:
    assert wsproto.parse_control(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("{}", "exactly one"),
    ('{"eof": true, "signal": "INT"}', "exactly one"),
    ('{"eof": false}', "eof"),
    ('{"signal": "NOPE"}', "unknown signal"),
    ('{"signal": "RTMIN"}', "unknown signal"),
    ('{"resize": {"rows": 0, "cols": 80}}', "resize.rows"),
    ('{"resize": {"rows": 24, "cols": 65536}}', "resize.cols"),
    ('{"resize": {"rows": 24}}', "resize.cols"),
    ('{"kill": true}', "kill"),
    ("[]", "dictionary"),
    ("not json", "malformed"),
])
def test_bad_control_messages(text: str, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        wsproto.parse_control(text)


def test_exit_messages() -> None:
    assert wsproto.encode_message(ExitMessage(exit_code=3)) == '{"exit_code":3}'
    init = ExitMessage(exit_code=137, oom_killed=True)
    assert wsproto.parse_exit(wsproto.encode_message(init)) == init
    with pytest.raises(ProtocolError):
        wsproto.parse_exit('{"exit_code": null}')


@given(st.text())
def test_close_reasons_fit_a_close_frame(text: str) -> None:
    reason = wsproto.close_reason(text)
    assert len(reason.encode()) <= wsproto.MAX_REASON_BYTES
    assert "\n" not in reason and "\r" not in reason


def test_close_codes_and_errors_map_both_ways() -> None:
    for error, code in ((NotFound("x"), 4404), (Conflict("x"), 4409), (InvalidSpec("x"), 4422),
                        (StockadeError("x"), 1011)):
        assert wsproto.close_code_for(error) == code
        back = wsproto.error_for_close(code, "why")
        assert type(back) is type(error) and str(back) == "why"
    assert "4410" in str(wsproto.error_for_close(4410, ""))


def test_signal_names() -> None:
    assert SignalRequest(signal="term").signal == "TERM"
    assert signal_number("KILL") == 9 and signal_number("SIGINT") == 2
    with pytest.raises(ValueError, match="unknown signal"):
        SignalRequest(signal="9")


def test_process_requests_follow_the_container_process_rules() -> None:
    request = ProcessRequest(args=["ls"], cwd="/tmp//x/./", rlimits={"nofile": 10})
    assert request.cwd == "/tmp/x"
    bad_requests: list[dict[str, Any]] = [
        {"args": []}, {"args": ["a\0"]}, {"args": ["a"], "env": {"1A": "x"}},
        {"args": ["a"], "user": "no body"}, {"args": ["a"], "cwd": "../x"},
        {"args": ["a"], "rlimits": {"files": 1}}, {"args": ["a"], "rlimits": {"cpu": -1}},
        {"args": ["a"], "window": {"rows": 1, "cols": 1}}, {"args": ["a"], "x": 1}]
    for bad in bad_requests:
        with pytest.raises(ValueError):
            ProcessRequest.model_validate(bad)

"""The CLI's stdlib HTTP transport against a scripted peer on a real unix socket: every
framing the daemon uses (Content-Length, chunks, end of connection), what it sends, and
one clear error for an answer that is not HTTP or a socket nobody listens on."""

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.client import Client, DaemonUnavailable
from stockade.client.transport import MalformedResponse, UnixTransport
from stockade.errors import NotFound


class Peer:
    """Accepts one connection per answer, records the request, sends the scripted bytes."""

    def __init__(self, path: Path, answers: list[bytes]) -> None:
        self.requests: list[bytes] = []
        self._answers = answers
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for answer in self._answers:
            conn, _ = self._server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                conn.sendall(answer)

    def close(self) -> None:
        self._thread.join(timeout=5)
        self._server.close()


@pytest.fixture
def peer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Peer]:
    made = Peer(tmp_path / "s.sock", request.param)
    yield made
    made.close()


def _chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"


def _json(status: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % (status, len(body)) + body)


JSON = _json(b"200 OK", b'{"ok":true}')


@pytest.mark.parametrize("peer", [[JSON]], indirect=True)
def test_a_request_carries_its_json_body_and_query(peer: Peer, tmp_path: Path) -> None:
    answer = UnixTransport(tmp_path / "s.sock").request(
        "POST", "/v1/x", {"a": [1, "é"]}, {"property": ["k=v", "l=w"], "flag": True,
                                           "skip": None})
    assert (answer.status, answer.json()) == (200, {"ok": True})
    head, _, body = peer.requests[0].partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"POST /v1/x?property=k%3Dv&property=l%3Dw&flag=true HTTP/1.1"
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == {"a": [1, "é"]}


@pytest.mark.parametrize("peer", [[
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + _chunked([b'{"a":', b"1}\n{",
                                                                          b'"b":2}\n'])]],
    indirect=True)
def test_a_chunked_stream_is_read_as_lines(peer: Peer, tmp_path: Path) -> None:
    with UnixTransport(tmp_path / "s.sock").stream("POST", "/v1/images/import", {}) as answer:
        assert list(answer.iter_lines()) == [b'{"a":1}', b'{"b":2}']


@pytest.mark.parametrize("peer", [[b"HTTP/1.1 200 OK\r\n\r\nuntil the end"]], indirect=True)
def test_a_body_without_length_ends_with_the_connection(peer: Peer, tmp_path: Path) -> None:
    assert UnixTransport(tmp_path / "s.sock").request("GET", "/metrics").content \
        == b"until the end"


@pytest.mark.parametrize("peer", [[_json(
    b"404 Not Found", b'{"error":{"kind":"not_found","message":"no such c1"}}')]], indirect=True)
def test_an_error_body_becomes_the_engine_error(peer: Peer, tmp_path: Path) -> None:
    with Client(tmp_path / "s.sock") as client, pytest.raises(NotFound, match="no such c1"):
        client.inspect("c1")


@pytest.mark.parametrize("peer", [[b"SSH-2.0-OpenSSH\r\n"],
                                  [b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"],
                                  [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"]],
                         indirect=True)
def test_an_answer_that_is_not_http_is_one_clear_error(peer: Peer, tmp_path: Path) -> None:
    with pytest.raises(MalformedResponse):
        UnixTransport(tmp_path / "s.sock").request("GET", "/v1/ping")


@pytest.mark.parametrize("peer", [[b"HTTP/1.1 200 OK\r\nx: " + b"y" * 70000]], indirect=True)
def test_an_endless_header_line_is_refused(peer: Peer, tmp_path: Path) -> None:
    with pytest.raises(MalformedResponse, match="too long"):
        UnixTransport(tmp_path / "s.sock").request("GET", "/v1/ping")


def test_no_listener_says_how_to_start_the_daemon(tmp_path: Path) -> None:
    with pytest.raises(DaemonUnavailable, match="stockade server"):
        Client(tmp_path / "none.sock").ping()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8))
def test_chunks_reassemble_whatever_the_split(tmp_path_factory: pytest.TempPathFactory,
                                              parts: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("chunks") / "s.sock"
    peer = Peer(path, [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                       + _chunked(parts)])
    try:
        assert UnixTransport(path).request("GET", "/x").content == b"".join(parts)
    finally:
        peer.close()


@pytest.mark.parametrize("peer", [[b""]], indirect=True)
def test_a_peer_that_hangs_up_is_named_not_the_missing_daemon(peer: Peer,
                                                              tmp_path: Path) -> None:
    with Client(tmp_path / "s.sock") as client, \
            pytest.raises(DaemonUnavailable, match="did not answer: the daemon closed"):
        client.ping()


_OUT = b'{"time":"t","stream":"stdout","data":"a\\n","cursor":"1.1"}\n'
_ERR = b'{"time":"t","stream":"stderr","data_b64":"/w==","cursor":"1.2"}\n'


@pytest.mark.parametrize("peer", [[
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked"
    b"\r\n\r\n" + _chunked([_OUT + _ERR[:9], _ERR[9:] + _OUT, _OUT])]], indirect=True)
def test_logs_come_in_the_batches_the_daemon_sent(peer: Peer, tmp_path: Path) -> None:
    """A batch is what one read completed: a record split over two chunks waits for the
    second; the query says what was asked."""
    with Client(tmp_path / "s.sock") as client:
        batches = list(client.log_batches("c1", follow=True, tail=5, since="1.5",
                                          stderr=False, after="9.1"))
    assert [[record.payload() for record in batch] for batch in batches] == [
        [b"a\n"], [b"\xff", b"a\n"], [b"a\n"]]
    assert peer.requests[0].split(b"\r\n")[0] == (
        b"GET /v1/containers/c1/logs?follow=true&tail=5&since=1.5&stdout=true&stderr=false"
        b"&after=9.1 HTTP/1.1")


@pytest.mark.parametrize("peer", [[
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + _chunked([_OUT, _OUT]),
    _json(b"404 Not Found", b'{"error":{"kind":"not_found","message":"no such c2"}}')]],
    indirect=True)
def test_logs_one_record_at_a_time_and_an_unknown_container(peer: Peer,
                                                            tmp_path: Path) -> None:
    with Client(tmp_path / "s.sock") as client:
        assert [record.data for record in client.logs("c1")] == ["a\n", "a\n"]
        with pytest.raises(NotFound, match="no such c2"):
            list(client.logs("c2"))
    assert peer.requests[0].split(b"\r\n")[0] == (
        b"GET /v1/containers/c1/logs?follow=false&stdout=true&stderr=true HTTP/1.1")

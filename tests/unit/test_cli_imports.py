"""What starting the CLI loads, checked in a fresh interpreter: the import contract
(pyproject.toml, `lint-imports`) sees the import statements, this sees what actually runs,
so a heavy package pulled in through a third-party module is caught too (issue 18).

`ps`, `inspect`, `version` and `--help` run whole here, against a stand-in daemon on a
unix socket, and must load none of the heavy packages: they are what a user runs most and
what docs/performance.md measures against `podman ps`."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stockade.spec import ContainerInfo

# the server's packages, and what made the CLI slow before: httpx (~90 ms cold),
# websockets (only process streams need it), pyroute2, FastAPI, uvicorn
HEAVY = ("stockade.engine", "stockade.api", "stockade.network", "stockade.images",
         "stockade.volumes", "stockade.verify", "stockade.runtime", "stockade.host",
         "stockade.policy", "stockade.audit", "stockade.settings", "httpx", "websockets",
         "pyroute2", "fastapi", "uvicorn", "nftables")
# what a one-shot command should not pay for: the parsers and the models it replaced
# (typer ~140 ms with click, rich and pydantic), the spec and the typed client
STARTUP = ("pydantic", "pydantic_core", "typer", "click", "rich", "stockade.spec",
           "stockade.client.client", "stockade.wire.models", "stockade.wire.process",
           # TLS: only a tcp:// host needs it (client/tls.py); the unix socket does not
           "ssl", "_ssl", "stockade.client.tls")
# ...and the process stream's protocol, which only run, exec and attach need
ONE_SHOT = (*STARTUP, "stockade.wire.stream")

# A daemon that answers every request from a table of paths, one connection each.
_DAEMON = """
import json, socket, threading
ANSWERS = json.loads({answers!r})
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind({socket!r})
server.listen(8)
def serve():
    while True:
        conn, _ = server.accept()
        head = b""
        while b"\\r\\n\\r\\n" not in head:
            head += conn.recv(4096)
        path = head.split(b" ")[1].decode().split("?")[0]
        body = json.dumps(ANSWERS.get(path, {{"error": {{"kind": "not_found",
                                                         "message": path}}}})).encode()
        status = "200 OK" if path in ANSWERS else "404 Not Found"
        conn.sendall(f"HTTP/1.1 {{status}}\\r\\ncontent-type: application/json\\r\\n"
                     f"content-length: {{len(body)}}\\r\\n\\r\\n".encode() + body)
        conn.close()
threading.Thread(target=serve, daemon=True).start()
"""


def _loaded(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def _within(loaded: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in loaded if any(m == p or m.startswith(p + ".") for p in packages)}


@pytest.mark.parametrize("code", ["import stockade.cli.main",
                                  "from stockade.client import Client"])
def test_the_cli_and_the_client_load_nothing_of_the_server(code: str) -> None:
    loaded = _loaded(code)
    assert "stockade.wire" in loaded  # the probe sees what it should
    assert not _within(loaded, HEAVY)


def test_a_foreground_run_and_exec_load_no_models_and_no_websockets_library() -> None:
    """What `run`, `create`, `exec` and `attach` import to build the spec's JSON and relay
    the process stream: the standard library's WebSocket client, no pydantic (issue 18's
    40 ms for the CLI's share of `run --rm -- true`)."""
    loaded = _loaded("import stockade.cli.main, stockade.cli.containers, "
                     "stockade.cli.remote_foreground, stockade.client.streams")
    assert "stockade.client.websocket" in loaded
    assert not _within(loaded, HEAVY + STARTUP), sorted(_within(loaded, HEAVY + STARTUP))


@pytest.fixture
def answers() -> dict[str, object]:
    info = ContainerInfo(handle="web", state="running", image="busybox",
                         limits={"memory_bytes": 1 << 28, "cpu_shares": 256, "pids": 512,
                                 "disk_bytes": 1 << 30},
                         command=["sleep", "300"], created_at=time.time())
    item = info.model_dump(mode="json")
    version = {"version": "0.1.0", "api": "v1", "python": "3.11", "runc": "1.2",
               "runc_binary": "/usr/sbin/runc", "kernel": "6", "arch": "x86_64"}
    return {"/v1/containers": [item], "/v1/containers/web": item, "/v1/version": version}


@pytest.mark.parametrize("argv", [
    ["ps"], ["ps", "-a", "--no-trunc"], ["ps", "--json"], ["ps", "-q", "--filter", "name=w"],
    ["ps", "--format", "table {{.handle}}\\t{{.state}}"], ["inspect", "web"],
    ["inspect", "web", "--json"], ["version"], ["--help"], ["run", "--help"],
    ["image", "ls", "--help"], ["--version"],
])
def test_one_shot_commands_load_no_models_and_no_heavy_package(
        tmp_path: Path, answers: dict[str, object], argv: list[str]) -> None:
    socket = str(tmp_path / "d.sock")
    script = textwrap.dedent(_DAEMON.format(answers=json.dumps(answers), socket=socket)) + \
        textwrap.dedent(f"""
        import contextlib, io, json, sys
        from stockade.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                main.main(["--socket", {socket!r}, *{argv!r}])
            except SystemExit as ended:
                code = ended.code
        print(json.dumps({{"code": code, "out": out.getvalue(),
                          "modules": sorted(sys.modules)}}))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=60)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, done.stderr
    assert "web" in result["out"] or argv[0].startswith("-") or "help" in argv[-1] \
        or argv == ["version"], result["out"]
    loaded = set(result["modules"])
    assert not _within(loaded, HEAVY + ONE_SHOT), sorted(_within(loaded, HEAVY + ONE_SHOT))


def test_a_remote_host_loads_ssl_only_then() -> None:
    """The counter-check: with --host tcp:// the TLS module is what connects (and fails,
    nobody listens), so the probe above would see ssl if the unix path loaded it."""
    script = textwrap.dedent("""
        import contextlib, io, json, sys
        from stockade.cli import main
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                main.main(["--host", "tcp://127.0.0.1:1", "ps"])
            except SystemExit:
                pass
        print(json.dumps(sorted(sys.modules)))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=60)
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"ssl", "stockade.client.tls"} <= loaded
    assert not _within(loaded, HEAVY)

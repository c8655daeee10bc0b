"""Run a container to completion and capture what it printed."""

import os
import secrets
import tempfile
from dataclasses import dataclass
from typing import Any

from stockade.engine import Engine
from stockade.runtime.runc import Stdio
from stockade.spec import ContainerInfo, ContainerSpec
from tests import containerkit


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str
    info: ContainerInfo


def handle(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def spec(args: list[str], **fields: Any) -> ContainerSpec:
    fields.setdefault("handle", handle())
    return ContainerSpec.model_validate({**fields, "process": {"args": args,
                                                               **fields.pop("process", {})}})


def run(engine: Engine, args: list[str], keep: bool = False, timeout: float = 120,
        **fields: Any) -> Result:
    """Create, start, wait and collect output; destroys the container unless `keep`."""
    request = spec(args, **fields)
    engine.create(request)
    try:
        engine.start(request.handle)
        status = engine.wait(request.handle, timeout)
        assert status is not None, f"{request.handle} did not finish in {timeout}s"
        assert status.exit_code is not None, f"{request.handle}: exit status unknown"
        out, err = containerkit.output(engine, request.handle)
        info = engine.inspect(request.handle)
    finally:
        if not keep:
            engine.destroy(request.handle)
    return Result(status.exit_code, out.decode(), err.decode(), info)


def start_detached(engine: Engine, args: list[str], **fields: Any) -> str:
    request = spec(args, **fields)
    engine.create(request)
    engine.start(request.handle)
    return request.handle


def exec_capture(engine: Engine, name: str, args: list[str]) -> tuple[int, str]:
    with tempfile.TemporaryFile() as out:
        stdin = os.open(os.devnull, os.O_RDONLY)
        try:
            code = engine.exec(name, args, Stdio(stdin, out.fileno(), out.fileno()))
        finally:
            os.close(stdin)
        out.seek(0)
        return code, out.read().decode()

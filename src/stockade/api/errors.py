"""Every failure leaves the API as a 4xx/5xx with one JSON body: {"error": {kind, message}}."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from stockade.api.access import IDENTITY_KEY
from stockade.api.peer import PEER_KEY, actor
from stockade.errors import WIRE_KINDS, WIRE_SUBKINDS, Forbidden, StockadeError
from stockade.spec.validation import first_error

_HTTP_KINDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def body(kind: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"kind": kind, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def classify(exc: StockadeError) -> tuple[str, int]:
    """The kind the body names and the HTTP status: the first of WIRE_KINDS that matches,
    its kind refined by WIRE_SUBKINDS (a missing command is `command_not_found`, 422)."""
    for cls, kind, status in WIRE_KINDS:
        if isinstance(exc, cls):
            refined = next((k for sub, k in WIRE_SUBKINDS if isinstance(exc, sub)), kind)
            return refined, status
    return "platform", 500


async def _stockade(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StockadeError)
    kind, status = classify(exc)
    if isinstance(exc, Forbidden):  # who tried what they may not: a security record
        await run_in_threadpool(_record_refusal, request, str(exc))
    return JSONResponse(body(kind, str(exc)), status_code=status)


def _record_refusal(request: Request, reason: str) -> None:
    daemon = getattr(request.app.state, "daemon", None)
    if daemon is not None:
        daemon.security("forbidden", f"{request.method} {request.url.path}",
                        {"reason": reason},
                        actor(request.scope.get(PEER_KEY), request.scope.get(IDENTITY_KEY)))


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, (RequestValidationError, ValidationError)) else []
    details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg"))}
               for e in errors]
    malformed = any(e.get("type") == "json_invalid" for e in errors)
    return JSONResponse(body("bad_request" if malformed else "invalid",
                             first_error(errors, located="invalid {where}: {message}",
                                         skip=("body",)), details),
                        status_code=400 if malformed else 422)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = _HTTP_KINDS.get(exc.status_code, "error")
    return JSONResponse(body(kind, str(exc.detail)), status_code=exc.status_code,
                        headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StockadeError, _stockade)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)

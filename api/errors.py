"""Domain errors -> HTTP status codes and one JSON error shape; no traceback ever leaves."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    BackendUnavailableError,
    ConflictError,
    FirstlineError,
    ForbiddenError,
    InvalidInputError,
    ModelNotTrainedError,
    NotFoundError,
    UnauthorizedError,
)

log = logging.getLogger("firstline.api")

STATUS: list[tuple[type[FirstlineError], int, str]] = [
    (UnauthorizedError, 401, "unauthorized"),
    (ForbiddenError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (InvalidInputError, 422, "invalid_input"),
    (ModelNotTrainedError, 409, "model_not_trained"),
    (BackendUnavailableError, 503, "backend_unavailable"),
]


def error_response(
    status: int,
    kind: str,
    message: str,
    details: list | None = None,
    current: dict | None = None,
) -> JSONResponse:
    body: dict = {"type": kind, "message": message}
    if details:
        body["details"] = details
    if current is not None:
        body["current"] = current
    headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(FirstlineError)
    async def _domain(_request: Request, exc: FirstlineError) -> JSONResponse:
        for cls, status, kind in STATUS:
            if isinstance(exc, cls):
                return error_response(status, kind, str(exc), current=getattr(exc, "current", None))
        return error_response(500, "error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            details.append({"field": loc, "message": e.get("msg", "")})
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return error_response(422, "invalid_input", f"invalid request: {summary}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "internal error; see the server log")


class BodySizeLimit:
    """ASGI middleware: request bodies over ``max_bytes`` get 413 before any route runs."""

    def __init__(self, app, max_bytes: int) -> None:  # noqa: ANN001
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0
        too_large = False

        async def limited_receive():  # noqa: ANN202
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message) -> None:  # noqa: ANN001
            # FastAPI turns an exception raised while reading the body into its own 400 "error
            # parsing the body"; for a body cut off here the answer is 413, so drop that one.
            if not too_large:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await self._reject(send)

    async def _reject(self, send) -> None:  # noqa: ANN001
        resp = error_response(
            413, "too_large", f"request body is larger than {self.max_bytes} bytes"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(resp.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": resp.body})


class _TooLarge(Exception):
    pass

"""Domain errors -> HTTP status codes and one JSON error shape; no traceback ever leaves."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

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

# The id of the request being answered: in the X-Request-ID header, in every error body and in
# the server log line of an unexpected error, so a user's report finds its traceback.
REQUEST_ID: ContextVar[str | None] = ContextVar("firstline_request_id", default=None)
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

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
    request_id = REQUEST_ID.get()
    if request_id is not None:
        body["request_id"] = request_id
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
            message = e.get("msg", "")
            if (
                e.get("type") == "string_pattern_mismatch"
                and (e.get("ctx") or {}).get("pattern") == r"\S"
            ):  # the schemas' NOT_BLANK: say it in words
                message = "is empty (white space only)"
            details.append({"field": loc, "message": message})
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return error_response(422, "invalid_input", f"invalid request: {summary}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, kind, str(exc.detail))


class RequestContext:
    """ASGI middleware, the outermost of ours: gives every request an id (``X-Request-ID``,
    the caller's if it is a short token, else a new one) and the server's zone for naive
    dates, and answers an unexpected exception itself with a 500 that names the request id.

    Starlette's own last-resort handler re-raises after its 500, and uvicorn then drops the
    keep-alive connection, so the client's next request fails too; answering here keeps it.
    """

    def __init__(self, app, timezone: str = "UTC") -> None:  # noqa: ANN001
        self.app = app
        self.timezone = timezone

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from api.schemas import TIMEZONE

        request_id = _request_id(scope)
        id_token = REQUEST_ID.set(request_id)
        tz_token = TIMEZONE.set(self.timezone)
        started = False

        async def send_with_id(message) -> None:  # noqa: ANN001
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unexpected error [request %s] %s %s", request_id, scope["method"], scope["path"]
            )
            if started:  # the answer is half sent: nothing sensible can follow it
                raise
            resp = error_response(
                500,
                "internal_error",
                f"internal error (request {request_id}); the server log has the details",
            )
            await resp(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(id_token)
            TIMEZONE.reset(tz_token)


def _request_id(scope) -> str:  # noqa: ANN001
    given = dict(scope.get("headers") or []).get(b"x-request-id", b"")
    if 0 < len(given) <= 64 and set(given.decode("latin-1")) <= _ID_CHARS:
        return given.decode("ascii")
    return uuid.uuid4().hex


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

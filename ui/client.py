"""The console's HTTP client for the firstline API: every call sends the API key, and every
failure becomes an :class:`ApiError` with a message a person can read (never a traceback)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


def api_url() -> str:
    """The API address, from ``FIRSTLINE_API_URL`` (read on every run, not at import)."""
    return os.environ.get("FIRSTLINE_API_URL", DEFAULT_URL).rstrip("/")


@dataclass
class ApiError(Exception):
    """A failed call: ``status`` is None when the API could not be reached at all."""

    message: str
    status: int | None = None
    kind: str = "error"
    current: dict[str, Any] | None = field(default=None)
    detail: str = ""  # the API's own message, without the prefix naming the status

    def __str__(self) -> str:
        return self.message

    @property
    def conflict(self) -> bool:
        return self.status == 409 and self.kind == "conflict"


class Client:
    """A thin client: ``request`` returns the JSON body or raises :class:`ApiError`."""

    def __init__(self, base_url: str, key: str | None = None, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        headers = {"X-API-Key": self.key} if self.key else {}
        try:
            r = httpx.request(
                method,
                f"{self.base_url}{path}",
                json=json,
                params=params,
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as e:
            raise ApiError(
                f"The firstline API at {self.base_url} cannot be reached ({type(e).__name__})."
            ) from e
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400:
            raise _error(r.status_code, body)
        if not isinstance(body, dict):
            raise ApiError(f"The API answered {r.status_code} with no JSON.", r.status_code)
        return body

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("POST", path, json=body or {})

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> dict[str, Any]:
        return self.request("DELETE", path)


_PREFIX = {
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "Check the input",
    503: "A service is down",
}


def _error(status: int, body: Any) -> ApiError:
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return ApiError(f"The API answered {status}.", status)
    message = str(err.get("message") or f"The API answered {status}.")
    prefix = _PREFIX.get(status, "Error" if status < 500 else "The API failed")
    current = err.get("current") if isinstance(err.get("current"), dict) else None
    kind = str(err.get("type") or "error")
    return ApiError(f"{prefix}: {message}", status, kind, current, message)

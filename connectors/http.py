"""One JSON-over-HTTP API of a system a desk runs: a lazily opened httpx client, retries with
exponential backoff, Retry-After on 429, a minimum interval between requests, and the answers a
connector cares about turned into the project's errors.  Credentials live in the headers only:
no message ever holds them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.errors import (
    BackendRefusedError,
    BackendUnavailableError,
    InvalidInputError,
    NotFoundError,
)

_MAX_RETRY_AFTER = 120.0  # seconds: a longer Retry-After is an outage, not a rate limit


class JsonApi:
    """Requests to ``base_url``; ``name`` ("RT") says whose answer an error is about.
    Nothing is opened until the first request."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        name: str,
        url: str,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        min_interval: float = 0.0,
    ) -> None:
        self.base_url = base_url
        self._headers = headers
        self.name = name
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.min_interval = min_interval
        self._http: httpx.Client | None = None
        self._last_request = float("-inf")

    def __repr__(self) -> str:  # never the headers
        return f"JsonApi(name={self.name!r}, url={self.url!r})"

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.base_url, headers=self._headers, timeout=self.timeout
            )
        return self._http

    def request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: object = None,
        idempotent: bool = True,
        what: str,
    ) -> Any:
        """One call with retries: refused connections, timeouts and 5xx answers are retried with
        exponential backoff (a request that may have reached the server only if ``idempotent``),
        a 429 after its Retry-After.  Refusals become the project's errors."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self._wait_turn()
            try:
                response = self._client().request(
                    method, path, params=tuple(params or ()), json=json
                )
            except httpx.TransportError as e:
                unsent = isinstance(e, httpx.ConnectError | httpx.ConnectTimeout)
                if not last and (idempotent or unsent):
                    time.sleep(self.backoff * 2**attempt)
                    continue
                raise BackendUnavailableError(
                    f"{self.name} at {self.url} is unreachable ({type(e).__name__} on {method} "
                    f"{path}, {attempt + 1} attempt(s))"
                ) from e
            status = response.status_code
            if status == 429 or (status >= 500 and idempotent):
                if not last:
                    time.sleep(_retry_after(response) or self.backoff * 2**attempt)
                    continue
                raise BackendUnavailableError(
                    f"{self.name} at {self.url} answered HTTP {status} to {method} {path} "
                    f"({attempt + 1} attempt(s))"
                )
            break
        if status in (401, 403):
            raise BackendRefusedError(f"{self.name} refused the token (HTTP {status})")
        if status == 404:
            raise NotFoundError(f"{self.name} has no {what}")
        if status >= 500:
            raise BackendUnavailableError(
                f"{self.name} at {self.url} failed {method} {path} (HTTP {status}); it may or "
                "may not have been applied"
            )
        if status >= 400:
            raise InvalidInputError(
                f"{self.name} refused {method} {path} (HTTP {status}): {_message(response)}"
            )
        try:
            return response.json()
        except ValueError as e:
            raise BackendUnavailableError(
                f"{self.name} at {self.url} answered {method} {path} with something other than JSON"
            ) from e

    def _wait_turn(self) -> None:
        if self.min_interval > 0:
            wait = self._last_request + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self._last_request = time.monotonic()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "no message"
    if isinstance(body, dict):
        return str(body.get("message") or body)[:200]
    return str(body)[:200]

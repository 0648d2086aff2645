"""Request and response bodies of the webhook admin routes (api/routes_webhooks.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt

from api.schemas import Id, Str, _In, _Out


class WebhookIn(_In):
    name: Str = Field(min_length=1, max_length=100, description="Letters, digits, '.', '_', '-'.")
    url: Str = Field(min_length=1, max_length=2000, description="http:// or https:// URL.")
    events: list[Str] = Field(
        min_length=1,
        max_length=20,
        description="Event names (ticket.created, ticket.triaged, ticket.taken, "
        "ticket.resolved, ticket.escalated, article.published) or ['*'] for all.",
    )
    secret: Str = Field(
        min_length=16, max_length=500, description="HMAC key of the signature; never returned."
    )
    timeout: float | None = Field(default=None, gt=0, le=300, description="Seconds per try.")
    max_attempts: StrictInt | None = Field(default=None, ge=1, le=100)


class WebhookCounts(_Out):
    pending: int
    delivered: int
    dead: int


class WebhookOut(_Out):
    id: int
    name: str
    url: str
    events: list[str]
    timeout: float | None = None
    max_attempts: int | None = None
    paused: bool
    cursor: int | None = Field(default=None, description="The last audit entry looked at.")
    created_at: str | None = None
    counts: WebhookCounts


class WebhooksOut(_Out):
    webhooks: list[WebhookOut]


class DeliveryOut(_Out):
    id: int
    event: str
    event_key: str
    status: str
    attempts: int
    last_error: str | None = None
    created_at: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    payload: dict[str, Any]


class DeadLettersOut(_Out):
    webhook: str
    deliveries: list[DeliveryOut]


class ReplayIn(_In):
    ids: list[Id] | None = Field(
        default=None, max_length=1000, description="Dead deliveries to send again; none: all."
    )


class ReplayOut(_Out):
    webhook: str
    replayed: list[int]


class PingOut(_Out):
    webhook: str
    delivery_id: int
    delivered: bool
    error: str | None = None

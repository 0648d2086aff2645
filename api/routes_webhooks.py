"""Outgoing webhooks (admin): create, list with delivery counts, dead letters, replay, test."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from api.deps import Admin, Webhooks
from api.schemas_webhooks import (
    DeadLettersOut,
    PingOut,
    ReplayIn,
    ReplayOut,
    WebhookIn,
    WebhookOut,
    WebhooksOut,
)

router = APIRouter(tags=["webhooks"])

HookName = Annotated[str, Path(min_length=1, max_length=100, description="The webhook's name.")]


@router.post("/admin/webhooks", response_model=WebhookOut)
def create_webhook(body: WebhookIn, who: Admin, hooks: Webhooks) -> dict[str, Any]:
    """A new webhook; it gets the events that happen from now on (signed with ``secret``,
    which is never shown again)."""
    return hooks.create(
        who, body.name, body.url, body.events, body.secret, body.timeout, body.max_attempts
    )


@router.get("/admin/webhooks", response_model=WebhooksOut)
def list_webhooks(_who: Admin, hooks: Webhooks) -> dict[str, Any]:
    """Every webhook with its deliveries counted: pending, delivered, dead."""
    return {"webhooks": hooks.hooks()}


@router.get("/admin/webhooks/{name}/dead", response_model=DeadLettersOut)
def dead_letters(
    name: HookName,
    _who: Admin,
    hooks: Webhooks,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Deliveries that failed every try (oldest first), with their last error."""
    return {"webhook": name, "deliveries": hooks.dead_letters(name, limit)}


@router.post("/admin/webhooks/{name}/replay", response_model=ReplayOut)
def replay(
    name: HookName, who: Admin, hooks: Webhooks, body: Annotated[ReplayIn | None, Body()] = None
) -> dict[str, Any]:
    """Send dead deliveries again (``ids``, or all of the hook's dead ones)."""
    return hooks.replay(who, name, body.ids if body is not None else None)


@router.post("/admin/webhooks/{name}/test", response_model=PingOut)
def test_webhook(name: HookName, who: Admin, hooks: Webhooks) -> dict[str, Any]:
    """Send a ``ping`` event now and say whether the receiver took it."""
    return hooks.ping(who, name)

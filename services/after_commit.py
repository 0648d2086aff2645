"""What a workflow does once its action has committed."""

from __future__ import annotations

import logging

from indexer.service import Firstline

log = logging.getLogger("firstline.services")


def index_changed(service: Firstline) -> None:
    """Tell the index the record changed.  The action is already committed: an index that
    cannot catch up now must not turn it into an error (the client would retry and make a
    duplicate or get a conflict); the row stays pending and the sync catches up later."""
    try:
        service.index_changed()
    except Exception:  # noqa: BLE001 - committed; logged with its traceback, never raised
        log.exception("the index did not catch up after a committed write; it stays pending")

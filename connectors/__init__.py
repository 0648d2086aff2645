"""The systems a desk already runs (ticketing systems, mailboxes): pull, push back, sync state."""

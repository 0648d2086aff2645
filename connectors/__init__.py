"""The systems a desk already runs: ticketing systems, mailboxes, webhook receivers."""

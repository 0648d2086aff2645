"""The systems a desk already runs: ticketing systems (Request Tracker), mailboxes (IMAP) and
webhook receivers.  Connectors pull requests in, push firstline's decisions back, and keep their
sync state in the record."""

"""The systems a desk already runs: mailboxes (IMAP in, SMTP out) and what they deliver."""

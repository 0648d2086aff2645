"""Workflows: each action of the desk and of the knowledge base is one function that runs in one
unit of work — the change, its events and its audit entry commit together or not at all.  The
API's routes (and any other front end) only parse, call and shape the response."""

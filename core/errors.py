"""The project's exceptions.

They live in the innermost room so that every other room can raise them; only ``api/`` maps
them to HTTP status codes or exit codes.
"""


class FirstlineError(Exception):
    """Base class of every error firstline raises on purpose."""


class InvalidInputError(FirstlineError):
    """The caller sent something we cannot use (bad file, bad mapping, bad query)."""


class NotFoundError(FirstlineError):
    """A ticket, article or other record does not exist."""


class ConflictError(FirstlineError):
    """The write would overwrite someone else's change (``current``: the record as it is now)."""

    def __init__(self, message: str, current: dict | None = None) -> None:
        super().__init__(message)
        self.current = current


class UnauthorizedError(FirstlineError):
    """No valid API key came with the request."""


class ForbiddenError(FirstlineError):
    """The key is valid but its role may not do this."""


class BackendUnavailableError(FirstlineError):
    """A search engine, database or model the request needs cannot be reached or loaded."""


class BackendRefusedError(BackendUnavailableError):
    """A system we connect to (a ticketing system, a mailbox) refused our credentials: it is
    there but unusable until someone fixes the token or its rights."""


class ModelNotTrainedError(FirstlineError):
    """A model is needed but has not been trained yet."""


class CredentialsRefusedError(FirstlineError):
    """A system we connect to (a mailbox, a mail server, a ticketing system) refused the
    configured credentials.  The message names the system and the user, never the secret."""

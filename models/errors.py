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
    """The write would overwrite someone else's change."""


class BackendUnavailableError(FirstlineError):
    """A search engine, database or model the request needs cannot be reached or loaded."""


class ModelNotTrainedError(FirstlineError):
    """A model is needed but has not been trained yet."""

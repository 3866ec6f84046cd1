"""The training app's user-facing error (kept apart so every training module may raise it)."""


class TrainingError(ValueError):
    """Bad training input, with a message fit for the user."""

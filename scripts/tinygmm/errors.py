"""The one exception type the CLI turns into a one-line error message, and the warning export_model gives."""


class TinyGMMError(Exception):
    """A user-facing error: the message is printed as is, without a traceback."""


class TinyGMMWarning(UserWarning):
    """Something the user should know about an export that succeeded (one line)."""

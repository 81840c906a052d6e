"""The one exception type the CLI turns into a one-line error message."""


class TinyGMMError(Exception):
    """A user-facing error: the message is printed as is, without a traceback."""

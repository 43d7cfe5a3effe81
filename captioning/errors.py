"""Exceptions whose message is a complete, one-line explanation for the user.

Command-line entry points print ``str(err)`` and exit non-zero instead of
showing a traceback.
"""


class CaptioningError(Exception):
    """Base class: the message names the file, key or argument and what was expected."""


class DataError(CaptioningError, ValueError):
    """A dataset file is missing, unreadable or does not have the expected contents."""


class DownloadError(CaptioningError):
    """A download failed or its result did not verify."""


class ConfigError(CaptioningError, ValueError):
    """A configuration value is missing or invalid."""

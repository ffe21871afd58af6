"""User-facing errors.

Every error a user can cause (a bad file, a typo in an option, an unknown task)
is raised as a :class:`SeamrlError` whose message is one sentence naming the
file, key, shape or value and what is expected. The CLI prints the message and
exits with code 2; it never shows a stack trace for these.
"""


class SeamrlError(Exception):
    """An error caused by user input; the message is one self-contained sentence."""


class DataError(SeamrlError):
    """A dataset file or array is missing, malformed or inconsistent."""


class ConfigError(SeamrlError):
    """A configuration key or value is unknown or invalid."""


class EnvError(SeamrlError):
    """A task or environment cannot be created or does not match the data."""

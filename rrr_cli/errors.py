"""Errors a user can cause. The CLI prints them as one line and exits non-zero; no traceback."""


class RrrError(Exception):
    """A problem with the user's input, files or environment, explained in one line."""

    exit_code = 2


class NotBuiltYet(RrrError):
    """A command whose implementation belongs to an issue that has not landed yet."""

    exit_code = 3

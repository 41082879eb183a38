"""Errors that the command line turns into one line and an exit code (never a traceback)."""

from __future__ import annotations

EXIT_FAILED = 1  # the work could not be done (no scheme in time, verification failed)
EXIT_USAGE = 2  # bad usage or unreadable input


class FastmmError(Exception):
    """An expected failure with a message meant for the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(FastmmError):
    """Bad usage or unreadable input (exit 2)."""

    exit_code = EXIT_USAGE


class SchemeFormatError(InputError):
    """A scheme file that is malformed, truncated, wrongly shaped or non-numeric."""


class VerificationError(FastmmError):
    """A scheme that fails the Brent equations (exit 1)."""

"""Errors of the fastmm library; the command line turns each into one line and an exit code.

Every expected failure is a FastmmError (one base class for library users to catch):

    FastmmError          the work could not be done (exit 1)
    ├── InputError       bad usage or unreadable input (exit 2)
    │   ├── SchemeFormatError   a malformed scheme or foreign file
    │   └── SchemeError         a Scheme built with inconsistent matrices (also a ValueError)
    ├── VerificationError       a scheme that fails the Brent equations
    ├── OutOfMemoryError        memory for the work could not be had (also a MemoryError)
    ├── SearchFailed            no scheme of the rank within the time limit (`.best`: the
    │   └── SearchInterrupted   lowest-rank verified scheme reached, or None); Ctrl-C, exit 130
    └── OutputError             an output file could not be written (fastmm.paths; also an OSError)
"""

from __future__ import annotations

EXIT_FAILED = 1  # the work could not be done (no scheme in time, verification failed)
EXIT_USAGE = 2  # bad usage or unreadable input
EXIT_INTERRUPTED = 130  # Ctrl-C


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


class StartError(InputError):
    """A start scheme a walk cannot start from (the command line names its file)."""


class SchemeFormatError(InputError):
    """A scheme file that is malformed, truncated, wrongly shaped or non-numeric."""


class SchemeError(InputError, ValueError):
    """Matrices that do not make a scheme (wrong sizes, unknown ring, fractions mod 2)."""


class VerificationError(FastmmError):
    """A scheme that fails the Brent equations (exit 1)."""


class OutOfMemoryError(FastmmError, MemoryError):
    """Memory the work needs could not be allocated (exit 1); also a MemoryError, so callers that
    catch MemoryError keep working."""


class SearchFailed(FastmmError):
    """No scheme of the wanted rank was found; `best` is the best verified one reached (or None);
    `mod2`, in searches over ZT or Z that walk over GF(2), a lower scheme valid modulo 2 only
    that did not lift (ring Z2, verified modulo 2), or None."""

    def __init__(self, message: str, best=None, outcome=None, exit_code: int | None = None, mod2=None):
        super().__init__(message, exit_code)
        self.best = best
        self.outcome = outcome
        self.mod2 = mod2


class SearchInterrupted(SearchFailed):
    """The search was stopped by Ctrl-C (exit 130); `best` as for SearchFailed."""

    exit_code = EXIT_INTERRUPTED

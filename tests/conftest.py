"""Checks shared by every test."""

import signal

import pytest


@pytest.fixture(autouse=True)
def _sigint_handler_left_as_found():
    """A test that leaves SIGINT's handler changed (a command run in this process that ignores
    Ctrl-C on its way out) silently breaks later tests that send SIGINT: it is put back, and the
    test that changed it fails, naming the handler."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"the test left SIGINT's handler changed: {after!r} instead of {before!r}")

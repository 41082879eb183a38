"""Checks shared by every test."""

import signal

import pytest

# The suite tests what Ctrl-C, SIGTERM and SIGHUP do to fastmm's commands. A signal ignored by
# whoever started pytest (nohup ignores SIGHUP, a script's background job SIGINT) is inherited,
# ignored, by every command a test runs, and fastmm keeps such a signal ignored, as it should: put
# the default actions back here, so the tests see what a user at a terminal sees.
for _sig, _action in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL),
                      (getattr(signal, "SIGHUP", None), signal.SIG_DFL)):
    if _sig is not None and signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, _action)


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

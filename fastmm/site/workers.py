"""Worker processes for `fastmm site`: a map over the schemes that an interrupt ends cleanly.

The process that starts the workers decides when to stop: SIGINT (Ctrl-C reaches the whole process
group) is ignored in a worker, SIGTERM and SIGHUP end it. When the map returns or raises (an
interrupt, a failed page), every worker is ended and reaped before it goes on: a Ctrl-C used to
leave them waiting on a pipe, with the command's stop handlers inherited, deaf to SIGTERM. A worker
whose starter is gone (killed) stops at its next scheme. Never imports torch.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from fastmm.errors import FastmmError

T = TypeVar("T")
R = TypeVar("R")

STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back while the body runs (a few renames, reaping workers):
    the first one to arrive acts, through the handler it would have met, once the body is done.
    Python runs signal handlers in the main thread whichever thread the system gave the signal
    to, so holding them there holds them all."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    before = {sig: signal.signal(sig, lambda signum, _frame: got.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        if got:
            signal.raise_signal(got[0])


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """The stop signals kept pending while a worker is forked: it starts with its starter's Python
    handlers and must not run them (a traceback from a worker) before `_serve` replaces them."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _serve(fn: Callable, items: Sequence, conn, inherited: list) -> None:
    """A worker: compute fn(items[i]) for each index i received, send back (i, ok, value)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the starter decides when to stop
    for sig in STOP_SIGNALS[1:]:
        if signal.getsignal(sig) != signal.SIG_IGN:  # what its starter ignores (nohup) it ignores too
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    for c in inherited:  # the starter's ends of the pipes, copied by the fork
        c.close()
    while True:
        try:
            i = conn.recv()
        except (EOFError, OSError):  # the starter is gone or done
            return
        try:
            reply = (i, True, fn(items[i]))
        except Exception as exc:  # noqa: BLE001 - raised again in the starter
            reply = (i, False, exc)
        try:
            conn.send(reply)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # noqa: BLE001 - an exception that does not pickle
            conn.send((i, False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """[fn(x) for x in items], computed by `workers` forked processes (2 or more), each taking
    the next item when it is done with one. An exception in fn is raised here; whatever ends the
    map, the workers are ended and reaped first (an interrupt does not wait for their pages)."""
    import multiprocessing as mp  # here: a build with one worker does not pay for it
    from multiprocessing.connection import wait

    if "fork" not in mp.get_all_start_methods():  # no fork (Windows): one process does it all
        return [fn(x) for x in items]
    ctx = mp.get_context("fork")  # the items are not pickled to start a worker
    procs: list = []
    conns: list = []
    done = False
    try:
        for _ in range(workers):
            ours, theirs = ctx.Pipe()
            # the worker closes its copies of the starter's ends (this one's included): only then
            # does it see the starter gone
            proc = ctx.Process(target=_serve, args=(fn, items, theirs, [*conns, ours]), daemon=True)
            with _signals_blocked():
                proc.start()
            theirs.close()
            procs.append(proc)
            conns.append(ours)
        results: list = [None] * len(items)
        todo = iter(range(len(items)))
        busy = {}
        for conn in conns:
            i = next(todo, None)
            if i is not None:
                conn.send(i)
                busy[conn] = i
        while busy:
            for conn in wait(list(busy)):
                try:
                    i, ok, value = conn.recv()
                except EOFError:
                    raise FastmmError(f"a worker process died while computing item {busy[conn]}") from None
                if not ok:
                    raise value
                results[i] = value
                del busy[conn]
                nxt = next(todo, None)
                if nxt is not None:
                    conn.send(nxt)
                    busy[conn] = nxt
        done = True
        return results
    finally:
        with signals_held():  # a second Ctrl-C here left the workers behind
            _end(procs, conns, done)


def _end(procs: list, conns: list, done: bool) -> None:
    """Close the pipes (an idle worker then returns) and reap every worker; unless the map is
    done, a busy one is terminated rather than waited for."""
    for conn in conns:
        conn.close()
    if not done:
        for proc in procs:
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5.0)
        if proc.is_alive():
            proc.kill()
            proc.join()

"""Run a search method: in this process, in K worker processes, or on a dask cluster.

All three paths run the same job function (`run_job`) on independent seeds
(seed, seed+1, ..., seed+K-1), stop every job at the first success, and return the
outcome with the lowest rank. Time limits and Ctrl-C are turned into the method's
`should_stop` flag, so a method always returns what it has instead of being killed.

The time limit counts from the call of `run_search`: worker start-up is part of it, and
workers still busy a moment after it are killed. Inside `StopSignals` (the command line)
SIGTERM and SIGHUP stop a search as Ctrl-C does. A progress callback with a
`seeds_starting(first, count)` method is told the seeds before any of them runs (the
`--resume` checkpoint reserves them). Worker processes stop by themselves when the process
that started them is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import signal
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from fastmm.arguments import SEED_LIMIT
from fastmm.errors import FastmmError
from fastmm.search.base import Progress, SearchOutcome, SearchTask, method_function

ProgressFn = Callable[[int, Progress], None]  # (worker index, progress)


@dataclasses.dataclass
class RunSummary:
    """What a whole search (all workers) produced."""

    outcome: SearchOutcome  # the winning or best outcome
    outcomes: list[SearchOutcome]
    interrupted: bool = False
    failures: list[str] = dataclasses.field(default_factory=list)  # workers that died


def run_job(task: SearchTask, method: str, should_stop: Callable[[], bool],
            report: Callable[[Progress], None], deadline: float | None = None) -> SearchOutcome:
    """One seed of one method, with the time limit folded into should_stop: `deadline` (a
    time.monotonic() value the caller fixed, so start-up counts), else task.time_limit from now.
    `--minimize additions`: the method finds, then `minimize_additions` polishes; the scheme at
    the target rank is reported (Progress.scheme) as soon as it exists."""
    fn = method_function(method)
    start = time.monotonic()
    if deadline is None and task.time_limit:
        deadline = start + task.time_limit
    if deadline is not None:  # the method's own clock agrees with the deadline
        task = dataclasses.replace(task, time_limit=max(deadline - start, 1e-3))
    minimize = task.options.get("minimize") == "additions"

    def stop() -> bool:
        return should_stop() or (deadline is not None and time.monotonic() >= deadline)

    find = task
    if minimize:  # every method only finds; the polishing below reports what it keeps
        find = dataclasses.replace(task, options={k: v for k, v in task.options.items()
                                                  if k not in ("minimize", "minimize_seconds")})
    saved = _saved_at_rank(task) if minimize else None
    # a resumed --minimize additions goes on polishing the scheme it saved, not a fresh one
    outcome = SearchOutcome(saved, seed=task.seed) if saved is not None else fn(find, report, stop)
    if outcome.scheme is not None and minimize:
        report(Progress(rank=outcome.scheme.rank, steps=outcome.steps, restarts=outcome.restarts,
                        elapsed=time.monotonic() - start, note="found; minimizing additions",
                        scheme=outcome.scheme))
        outcome.scheme = minimize_additions(task, outcome.scheme, stop, report, deadline)
    outcome.seconds = outcome.seconds or time.monotonic() - start
    outcome.seed = task.seed
    if outcome.scheme is not None:
        outcome.stopped = "found"
    elif outcome.stopped != "restarts":  # the method's own budget; otherwise the runner's call
        outcome.stopped = "time" if deadline and time.monotonic() >= deadline else "stopped"
    return outcome


def _saved_at_rank(task: SearchTask):
    """`--resume` of a `--minimize additions` search: of the saved schemes (options "starts",
    verified by the checkpoint) at or below the target rank and valid in the ring, the one with
    the fewest additions (lowest rank first); None when there is none."""
    from fastmm.export.slp import count_additions
    from fastmm.scheme import Scheme, scheme_serves

    fits = [s for s in task.options.get("starts", ()) if isinstance(s, Scheme) and s.shape == task.shape
            and s.rank <= task.rank and scheme_serves(s, task.ring)]
    if not fits:
        return None
    best = min(fits, key=lambda s: (s.rank, count_additions(s)))
    prov = {k: v for k, v in best.provenance.items() if k != "status"}
    return best.with_meta(provenance={**prov, "start": "the scheme saved in the --resume directory"})


MINIMIZE_SLICES = (2.0, 4.0, 8.0)  # seconds of each polishing walk, then the last one again


def minimize_additions(task: SearchTask, scheme, should_stop: Callable[[], bool],
                       report: Callable[[Progress], None], deadline: float | None):
    """`--minimize additions`: walk the flip graph at the found rank from `scheme` until the
    time limit (or `minimize_seconds`, default 10 s, without one), keeping the scheme with the
    fewest additions. The walk runs in slices of a few seconds, each from the best scheme so
    far, and every improvement is reported at once (Progress.scheme): a kill loses at most one
    slice of polishing, never the scheme."""
    from fastmm.export.slp import count_additions
    from fastmm.search.flip import run as flip_run

    t0 = time.monotonic()
    end = deadline if deadline is not None else t0 + float(task.options.get("minimize_seconds", 10.0))
    best, before = scheme, count_additions(scheme)
    after, steps, k = before, 0, 0

    def noted(s):
        note = {"method": "flip walk at the found rank", "seconds": round(time.monotonic() - t0, 3),
                "steps": steps, "additions_before": before, "additions_after": after}
        return s.with_meta(provenance={**scheme.provenance, "minimize": note})

    while not should_stop() and end - time.monotonic() > 0.05:
        span = MINIMIZE_SLICES[min(k, len(MINIMIZE_SLICES) - 1)]
        walk = SearchTask(*task.shape, rank=scheme.rank, ring=task.ring,
                          seed=(task.seed + 1_000_003 * k) % SEED_LIMIT,  # each slice walks anew
                          time_limit=min(span, end - time.monotonic()),
                          options={"start": best, "minimize": "additions"})
        out = flip_run(walk, report, lambda: should_stop() or time.monotonic() >= end)
        steps, k = steps + out.steps, k + 1
        got = out.scheme
        if got is not None and got.rank <= best.rank and count_additions(got) < after:
            best, after = got, count_additions(got)
            report(Progress(rank=best.rank, steps=steps, elapsed=time.monotonic() - t0,
                            note=f"minimizing: {after} additions", scheme=noted(best)))
    return noted(best)


def _better(a: SearchOutcome | None, b: SearchOutcome) -> bool:
    """Is b better than a? Success first, then lower rank, then (--minimize additions) fewer
    additions, then sooner."""
    if a is None:
        return True
    ka = (a.scheme is None, a.best_rank if a.best_rank is not None else 10**9, _minimized(a), a.seconds)
    kb = (b.scheme is None, b.best_rank if b.best_rank is not None else 10**9, _minimized(b), b.seconds)
    return kb < ka


def _minimized(outcome: SearchOutcome) -> int:
    """--minimize additions: the additions the polishing left (fewer is better); 0 otherwise."""
    note = outcome.scheme.provenance.get("minimize") if outcome.scheme is not None else None
    adds = note.get("additions_after") if isinstance(note, dict) else None
    return adds if isinstance(adds, int) else 0


def _keep(best: SearchOutcome | None, outcome: SearchOutcome, stop) -> SearchOutcome:
    """The better of `best` and a worker's `outcome`; a found scheme stops the other workers."""
    if outcome.scheme is not None:
        stop.set()
    return outcome if _better(best, outcome) else best  # type: ignore[return-value]


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP as a request to stop, for the whole of a command's search.

    While a search runs (`run_search` shields it) a signal only sets `flag`: the workers stop
    and return what they have. Elsewhere (verifying, comparing schemes) it also raises
    KeyboardInterrupt, so a long proof is cut short; `shield()` marks code that must finish
    first (writing a file). `signum` is the first signal received. Main thread only; elsewhere
    it changes nothing.
    """

    def __init__(self, signals: tuple[int, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self.flag = threading.Event()
        self.signum: int | None = None
        self._shielded = 0
        self._old: dict[int, object] = {}
        self._entered = False
        self._outer: StopSignals | None = None

    @property
    def exit_code(self) -> int:
        """128 + the signal, as a shell reports a process the signal ended (130 for Ctrl-C)."""
        return 128 + (self.signum or signal.SIGINT)

    def _handle(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
        self.flag.set()
        if not self._shielded:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1

    def __enter__(self) -> StopSignals:
        global _ACTIVE
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                if ignored(sig):
                    continue
                self._old[sig] = signal.signal(sig, self._handle)
            self._outer, _ACTIVE = _ACTIVE, self
            self._entered = True
        return self

    def __exit__(self, *exc) -> None:
        global _ACTIVE
        if self._entered:
            _ACTIVE = self._outer
            for sig, old in self._old.items():
                signal.signal(sig, old)
            self._old = {}
            self._entered = False


def ignored(sig: int) -> bool:
    """Was `sig` ignored by whoever started this process (`nohup` ignores SIGHUP, a script's
    background job SIGINT)? Then it stays ignored: the command was told to survive it (QA-132:
    `nohup fastmm search ...` stopped, exit 129, when its terminal closed)."""
    return signal.getsignal(sig) == signal.SIG_IGN


_ACTIVE: StopSignals | None = None  # the StopSignals a command entered, if any


@contextlib.contextmanager
def _stop_requests() -> Iterator[threading.Event]:
    """The flag a search stops on: the command's StopSignals (shielded while the search runs),
    or, for library callers, Ctrl-C only, for this search."""
    outer = _ACTIVE
    if outer is not None:
        with outer.shield():
            yield outer.flag
        return
    own = StopSignals((signal.SIGINT,))
    own._shielded = 1  # a flag only
    with own:
        yield own.flag


def run_search(task: SearchTask, method: str, workers: int = 1, scheduler: str | None = None,
               on_progress: ProgressFn | None = None) -> RunSummary:
    """Search with `workers` independent seeds; see the module docstring."""
    report = on_progress or (lambda i, p: None)
    deadline = time.monotonic() + task.time_limit if task.time_limit else None
    with _stop_requests() as flag:
        starting = getattr(on_progress, "seeds_starting", None)
        if starting is not None:  # before any of them runs (a failure here stops the search)
            starting(task.seed, max(workers, 1))
        if scheduler:
            summary = _run_dask(task, method, max(workers, 1), scheduler, report, flag)
        elif workers <= 1:
            outcome = run_job(task, method, flag.is_set, lambda p: report(0, p), deadline)
            summary = RunSummary(outcome, [outcome])
        else:
            summary = _run_processes(task, method, workers, report, flag, deadline)
        summary.interrupted = flag.is_set()
    if summary.interrupted and summary.outcome.scheme is None:
        summary.outcome.stopped = "interrupted"
    return summary


# -- worker processes -------------------------------------------------------------------

GRACE = 1.0  # seconds a worker has after the deadline to return what it has before it is killed
ORPHAN_CHECK = 0.5  # seconds between a worker's checks that the process that started it lives


def _process_main(task: SearchTask, method: str, index: int, stop_event, results,
                  deadline: float | None, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if index:  # every worker reads the same catalogue: let the first one say what is wrong with it
        import warnings

        from fastmm.catalog import CatalogWarning

        warnings.filterwarnings("ignore", category=CatalogWarning)
    mine = threading.Event()  # SIGTERM or SIGHUP sent to this worker (or its whole group)
    for sig in STOP_SIGNALS[1:]:
        if not ignored(sig):  # as its parent: nohup's SIGHUP stays ignored
            signal.signal(sig, lambda *_: mine.set())
    last = [0.0]
    checked = [0.0]

    def should_stop() -> bool:
        if stop_event.is_set() or mine.is_set():
            return True
        now = time.monotonic()
        if now - checked[0] >= ORPHAN_CHECK:  # the parent was killed: nobody waits for this work
            checked[0] = now
            if os.getppid() != parent:
                mine.set()
        return mine.is_set()

    def report(p: Progress) -> None:
        now = time.monotonic()
        if p.scheme is not None or now - last[0] >= 0.2:  # a scheme to keep is never dropped
            last[0] = now
            try:
                results.put(("progress", index, p))
            except Exception:  # noqa: BLE001 - progress is best effort
                pass

    try:
        outcome = run_job(task, method, should_stop, report, deadline)
    except FastmmError as exc:  # a refused request: one line in the parent, not a traceback here
        results.put(("error", index, exc))
        return
    if outcome.scheme is not None:
        stop_event.set()  # the others stop now (and no more start), before the parent reads this
    results.put(("done", index, outcome))


def _seeded(task: SearchTask, i: int) -> SearchTask:
    return dataclasses.replace(task, seed=task.seed + i)


def _run_processes(task: SearchTask, method: str, workers: int, report: ProgressFn,
                   interrupted: threading.Event, deadline: float | None) -> RunSummary:
    import multiprocessing as mp  # here: one worker, the common case, does not pay for it

    method_function(method)  # imported once here, not in every worker after the fork
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    results = ctx.Queue()
    procs = []
    for i in range(workers):  # starting hundreds takes seconds: the time limit includes it
        if stop.is_set() or interrupted.is_set() or (deadline is not None and time.monotonic() >= deadline):
            break
        p = ctx.Process(target=_process_main, daemon=True,
                        args=(_seeded(task, i), method, i, stop, results, deadline, os.getpid()))
        p.start()
        procs.append(p)
    outcomes: dict[int, SearchOutcome] = {}
    failures: list[str] = []
    errors: list[FastmmError] = []
    best: SearchOutcome | None = None
    pending = set(range(len(procs)))
    try:
        while pending:
            now = time.monotonic()
            if interrupted.is_set() or (deadline is not None and now >= deadline):
                stop.set()
            if deadline is not None and now >= deadline + GRACE:
                break  # still busy (starting up, or deaf to the stop flag): killed below
            try:
                kind, index, payload = results.get(timeout=0.1)
            except queue.Empty:
                for i in list(pending):  # a worker that died without a result
                    if not procs[i].is_alive() and procs[i].exitcode not in (None, 0):
                        pending.discard(i)
                        failures.append(f"worker {i} (seed {task.seed + i}) died with exit code "
                                        f"{procs[i].exitcode}")
                continue
            if kind == "progress":
                report(index, payload)
                continue
            pending.discard(index)
            if kind == "error":  # every worker would refuse the same request: stop them all
                errors.append(payload)
                stop.set()
                continue
            outcomes[index] = payload
            best = _keep(best, payload, stop)
    finally:
        stop.set()
        late = deadline is not None and time.monotonic() >= deadline + GRACE
        _end_workers(procs, time.monotonic() + (0.2 if late else GRACE))
    if errors:
        raise errors[0]
    if best is None and failures:
        raise FastmmError("every worker died: " + "; ".join(failures))
    if best is None:  # none returned in time (all still starting up at the time limit)
        best = SearchOutcome(None, stopped="time", seed=task.seed)
    return RunSummary(best, [outcomes[i] for i in sorted(outcomes)], failures=failures)


def _end_workers(procs: list, until: float) -> None:
    """Join the workers (told to stop) until `until` at most, all together; kill the rest."""
    for p in procs:
        p.join(timeout=max(0.0, until - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(timeout=1.0)


# -- dask.distributed --------------------------------------------------------------------

DASK_REPORT_S = 2.0  # a cluster job sends its progress to the client at most this often
DASK_ORPHAN_S = 30.0  # a cluster job whose client's heartbeat has not moved for this long stops


def _dask_job(task: SearchTask, method: str, name: str, index: int) -> SearchOutcome:
    """Runs on a dask worker: polls the cluster-wide stop event and the client's heartbeat at most
    twice a second, and sends its progress to the client through a dask Queue. A job whose client
    is gone (killed, or the scheduler lost) stops after DASK_ORPHAN_S s instead of walking on to
    its own time limit and holding the worker a resumed search needs."""
    from distributed import Event, Variable, get_client

    client = get_client()
    event = Event(name, client=client)
    beat = Variable(f"{name}-beat", client=client)
    state = {"t": 0.0, "set": False, "beat": None, "moved": time.monotonic(), "sent": 0.0}

    def should_stop() -> bool:
        now = time.monotonic()
        if not state["set"] and now - state["t"] >= 0.5:
            state["t"] = now
            try:
                state["set"] = event.is_set()
                seen = beat.get(timeout=DASK_CALL_S, callback_timeout=DASK_CALL_S)
                if seen != state["beat"]:
                    state["beat"], state["moved"] = seen, now
            except Exception:  # noqa: BLE001 - a lost scheduler must not kill the walk
                pass
            if now - state["moved"] >= DASK_ORPHAN_S:
                state["set"] = True
        return state["set"]

    def report(p: Progress) -> None:
        now = time.monotonic()
        if now - state["sent"] < DASK_REPORT_S:
            return
        state["sent"] = now
        item = {"i": index, "rank": int(p.rank), "steps": int(p.steps), "restarts": int(p.restarts),
                "elapsed": float(p.elapsed), "note": str(p.note)}
        with contextlib.suppress(Exception):  # progress is best effort: the walk goes on without it
            client.sync(client.scheduler.queue_put, name=f"{name}-progress", data=item,
                        callback_timeout=DASK_CALL_S)

    return run_job(task, method, should_stop, report)


CONNECT_S = 10.0  # longest wait for a dask scheduler to answer (less with a shorter --time-limit)


def _connect(client_class, address: str, interrupted: threading.Event, limit: float):
    """A dask Client for `address`, or None when `interrupted` is set first; one FastmmError when
    it fails or has not answered within `limit` seconds. Client(timeout=...) bounds the TCP
    connect only: a port that accepts and never speaks held the search past its time limit,
    deaf to Ctrl-C and SIGTERM. So the client is built in a thread of its own (a daemon left
    behind if it hangs), and one that fails is dropped there: its __del__ waits 10 s to close
    and prints a traceback (silenced for that thread)."""
    box: dict = {}

    def connect() -> None:
        try:
            box["client"] = client_class(address, timeout="5s", set_as_default=False)
        except (MemoryError, ValueError, OverflowError, struct.error):  # bytes that are not dask's
            box["error"] = "its answer is not the dask protocol (is a dask scheduler listening there?)"
        except Exception as exc:  # noqa: BLE001 - any failure to connect is one line for the user
            box["error"] = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if "error" in box:
            import gc

            gc.collect()  # the half-built client closes here, in this thread, not in the search's

    _quiet_unraisable_in("fastmm-dask-connect")
    thread = threading.Thread(target=connect, name="fastmm-dask-connect", daemon=True)
    thread.start()
    t0 = time.monotonic()
    while thread.is_alive() and not box:
        if interrupted.is_set():
            return None
        if time.monotonic() - t0 >= limit:
            raise FastmmError(f"cannot reach the dask scheduler at {address}: no answer within {limit:g} s "
                              "(is a dask scheduler listening there?)")
        thread.join(0.05)
    if "error" in box:
        raise FastmmError(f"cannot reach the dask scheduler at {address}: {box['error']}")
    return box["client"]


def _quiet_unraisable_in(thread_name: str) -> None:
    """Drop the 'Exception ignored in ...' report of objects finalized in thread `thread_name`
    (a half-built dask Client closing); every other report goes to the hook as before."""
    previous = sys.unraisablehook
    if getattr(previous, "fastmm_quiet", None) == thread_name:
        return

    def hook(unraisable) -> None:
        if threading.current_thread().name != thread_name:
            previous(unraisable)

    hook.fastmm_quiet = thread_name  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _warn_without_workers(client, address: str) -> None:
    """A scheduler with no worker runs nothing: say so at once rather than only at the time limit."""
    import warnings

    with contextlib.suppress(Exception):
        if not client.sync(client.scheduler.identity, callback_timeout=DASK_CALL_S).get("workers"):
            warnings.warn(f"the dask scheduler at {address} has no workers yet: the search's jobs wait "
                          f"for one to join (start one with `dask worker {address}`)", RuntimeWarning,
                          stacklevel=2)


DASK_GRACE = 2.0  # seconds cluster jobs have after the time limit or a stop request; then cancelled
DASK_CALL_S = 2.0  # longest wait for one call to the scheduler (setting the stop event, cancelling)


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """dask logs a lost scheduler or worker as pages of tracebacks (its client and comm loggers
    have levels of their own); the search reports it in one line. Levels restored after."""
    import logging

    names = ["distributed"] + [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    old = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for n, level in old.items():
            logging.getLogger(n).setLevel(level)


def _run_dask(task: SearchTask, method: str, jobs: int, address: str, report: ProgressFn,
              interrupted: threading.Event) -> RunSummary:
    try:
        from distributed import Client
    except ImportError:
        msg = "--scheduler needs dask.distributed: pip install 'fastmm[dist]'"
        raise FastmmError(msg) from None
    with _quiet_dask_logs():
        return _run_dask_quietly(task, method, jobs, address, report, interrupted, Client)


def _run_dask_quietly(task: SearchTask, method: str, jobs: int, address: str, report: ProgressFn,
                      interrupted: threading.Event, client_class) -> RunSummary:
    """The time limit and a stop request hold as they do for worker processes: jobs that have not
    returned DASK_GRACE s later (no worker left to run them, a worker lost) are cancelled and the
    search returns what came back; a lost scheduler is one FastmmError."""
    limit = CONNECT_S if task.time_limit is None else min(CONNECT_S, max(task.time_limit, 1.0))
    client = _connect(client_class, address, interrupted, limit)
    if client is None:  # Ctrl-C or a signal while connecting: nothing ran
        return RunSummary(SearchOutcome(scheme=None, stopped="interrupted", seed=task.seed), [])
    failures: list[str] = []
    outcomes: list[SearchOutcome] = []
    best: SearchOutcome | None = None
    name = f"fastmm-stop-{uuid.uuid4().hex}"

    def stop_jobs(cancel: list | None = None) -> None:
        """Set the cluster-wide stop event (and cancel `cancel`), never waiting long on a
        scheduler that is gone."""
        with contextlib.suppress(Exception):
            client.sync(client.scheduler.event_set, name=name, callback_timeout=DASK_CALL_S)
        if cancel:
            with contextlib.suppress(Exception):
                client.sync(client._cancel, cancel, callback_timeout=DASK_CALL_S)

    class _Stop:  # what _keep sets when a job found a scheme
        set = staticmethod(stop_jobs)

    from distributed import Variable

    # every call to the scheduler is bounded (callback_timeout): one that stops answering must not
    # hold the search past its time limit, deaf to signals. The progress queue is driven through
    # the scheduler's queue_* handlers, as distributed.Queue's own constructor waits without a limit
    beat = Variable(f"{name}-beat", client=client)
    reports = f"{name}-progress"
    beats = [0, 0.0]  # the heartbeat's count, and when it was last sent

    # a call the scheduler let time out: no heartbeat or progress is asked of it for a while (well
    # within DASK_ORPHAN_S, so that a scheduler slow for a moment does not stop the jobs)
    quiet_until = [0.0]

    def heartbeat() -> None:
        """Tell the jobs this client lives: they stop when the count stops moving."""
        now = time.monotonic()
        if now >= quiet_until[0] and now - beats[1] >= 1.0:
            beats[0] += 1
            beats[1] = now
            try:
                beat.set(beats[0], callback_timeout=DASK_CALL_S)
            except Exception:  # noqa: BLE001 - the jobs go on; the results say what was lost
                quiet_until[0] = time.monotonic() + DASK_ORPHAN_S / 3

    def drain_reports() -> None:
        """The progress running jobs sent, passed on to the caller's report."""
        if time.monotonic() < quiet_until[0]:
            return
        try:
            records = client.sync(client.scheduler.queue_get, name=reports, batch=True,
                                  callback_timeout=DASK_CALL_S)
        except Exception:  # noqa: BLE001 - progress is best effort
            quiet_until[0] = time.monotonic() + DASK_ORPHAN_S / 3
            return
        with contextlib.suppress(Exception):  # a malformed item: dropped with the rest of this batch
            for item in (r["value"] for r in records or () if r.get("type") == "msgpack"):
                report(int(item["i"]), Progress(rank=item["rank"], steps=item["steps"],
                                                restarts=item["restarts"], elapsed=item["elapsed"],
                                                note=item["note"]))

    try:
        _warn_without_workers(client, address)
        with contextlib.suppress(Exception):  # without it the jobs' progress is dropped, nothing else
            client.sync(client.scheduler.queue_create, name=reports, maxsize=0, callback_timeout=DASK_CALL_S)
        heartbeat()
        futures = [client.submit(_dask_job, _seeded(task, i), method, name, i, pure=False)
                   for i in range(jobs)]
        seeds = {f.key: task.seed + i for i, f in enumerate(futures)}
        waiting = list(futures)
        started, stop_at, drained = time.monotonic(), None, 0.0
        while waiting:
            # each job's own clock starts when a worker takes it: jobs queued behind busy workers
            # would run past the time limit, so the limit is the client's too
            now = time.monotonic()
            heartbeat()
            if now - drained >= DASK_REPORT_S:
                drained = now
                drain_reports()
            late = task.time_limit is not None and now - started >= task.time_limit
            if (interrupted.is_set() or late) and stop_at is None:
                stop_at = now
                stop_jobs()
            if stop_at is not None and time.monotonic() >= stop_at + DASK_GRACE:
                # no worker runs them (none left, or killed): they would be waited for forever
                failures.append(f"{len(waiting)} job(s) had not returned {DASK_GRACE:g} s after the "
                                "search was told to stop (no worker left to run them?): cancelled")
                stop_jobs(waiting)
                break
            batch = [f for f in waiting if f.done()]
            if not batch:
                time.sleep(0.05)
                continue
            waiting = [f for f in waiting if f not in batch]
            for fut in batch:
                try:
                    outcome = fut.result()
                except FastmmError:  # a refused request: every job would refuse it
                    stop_jobs()
                    raise
                except Exception as exc:  # noqa: BLE001 - a dead worker is reported, not fatal
                    failures.append(f"seed {seeds.get(fut.key)} failed on the cluster: "
                                    f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}")
                    continue
                outcomes.append(outcome)
                # a job that returned no valid scheme (stopped at once, or requeued after its worker
                # was lost) reached only the naive scheme, not the target
                n, m, p = task.shape
                report(seeds.get(fut.key, task.seed) - task.seed,
                       Progress(rank=outcome.best_rank or n * m * p, steps=outcome.steps,
                                restarts=outcome.restarts, elapsed=outcome.seconds))
                best = _keep(best, outcome, _Stop)
        lost = client.status not in ("running", "connecting") or any(
            "scheduler-connection-lost" in f for f in failures)
    finally:
        with contextlib.suppress(Exception):  # stream messages: sent, never waited for
            beat.delete()
            client._send_to_scheduler({"op": "queue_release", "name": reports})
        with contextlib.suppress(Exception):
            client.close(timeout=DASK_CALL_S)
    if best is None and lost:
        raise FastmmError(f"the dask scheduler at {address} was lost during the search: no cluster job "
                          "returned a result")
    if best is None and stop_at is None:  # every job failed before the time limit
        raise FastmmError("no cluster job returned a result: " + "; ".join(failures))
    if best is None:  # none returned in time (no worker took them, or the workers were lost)
        best = SearchOutcome(None, stopped="interrupted" if interrupted.is_set() else "time", seed=task.seed)
    return RunSummary(best, outcomes, failures=failures)

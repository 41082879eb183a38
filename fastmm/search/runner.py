"""Run a search method: in this process, in K worker processes, or on a dask cluster.

All three paths run the same job function (`run_job`) on independent seeds
(seed, seed+1, ..., seed+K-1), stop every job at the first success, and return the
outcome with the lowest rank. Time limits and Ctrl-C are turned into the method's
`should_stop` flag, so a method always returns what it has instead of being killed.
"""

from __future__ import annotations

import dataclasses
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable

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
            report: Callable[[Progress], None]) -> SearchOutcome:
    """One seed of one method, with the task's own time limit folded into should_stop."""
    fn = method_function(method)
    start = time.monotonic()
    deadline = start + task.time_limit if task.time_limit else None

    def stop() -> bool:
        return should_stop() or (deadline is not None and time.monotonic() >= deadline)

    outcome = fn(task, report, stop)
    if outcome.scheme is not None and method != "flip" and task.options.get("minimize") == "additions":
        outcome.scheme = minimize_additions(task, outcome.scheme, stop, report, deadline)
    outcome.seconds = outcome.seconds or time.monotonic() - start
    outcome.seed = task.seed
    if outcome.scheme is not None:
        outcome.stopped = "found"
    elif outcome.stopped != "restarts":  # the method's own budget; otherwise the runner's call
        outcome.stopped = "time" if deadline and time.monotonic() >= deadline else "stopped"
    return outcome


def minimize_additions(task: SearchTask, scheme, should_stop: Callable[[], bool],
                       report: Callable[[Progress], None], deadline: float | None):
    """`--minimize additions` for the methods that only find: walk the flip graph at the found
    rank from `scheme` until the time limit (or `minimize_seconds`, default 10 s, without one),
    keeping the scheme with the fewest additions (fastmm.search.flip does the same inline)."""
    from fastmm.export.slp import count_additions
    from fastmm.search.flip import run as flip_run

    now = time.monotonic()
    budget = deadline - now if deadline is not None else float(task.options.get("minimize_seconds", 10.0))
    if budget <= 0.05:
        return scheme
    walk = SearchTask(*task.shape, rank=scheme.rank, ring=task.ring, seed=task.seed, time_limit=budget,
                      options={"start": scheme, "minimize": "additions"})
    out = flip_run(walk, report, should_stop)
    before = count_additions(scheme)
    better = out.scheme if out.scheme is not None and out.scheme.rank <= scheme.rank else None
    after = count_additions(better) if better is not None else before
    note = {"method": "flip walk at the found rank", "seconds": round(time.monotonic() - now, 3),
            "steps": out.steps, "additions_before": before, "additions_after": min(before, after)}
    if better is None or after >= before:
        return scheme.with_meta(provenance={**scheme.provenance, "minimize": note})
    return better.with_meta(provenance={**scheme.provenance, "minimize": note})


def _better(a: SearchOutcome | None, b: SearchOutcome) -> bool:
    """Is b better than a? Success first, then lower rank, then sooner."""
    if a is None:
        return True
    ka = (a.scheme is None, a.best_rank if a.best_rank is not None else 10**9, a.seconds)
    kb = (b.scheme is None, b.best_rank if b.best_rank is not None else 10**9, b.seconds)
    return kb < ka


class _Interrupt:
    """Turn SIGINT into a flag while a search runs (main thread only)."""

    def __init__(self) -> None:
        self.flag = threading.Event()
        self._old = None

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, lambda *_: self.flag.set())
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def run_search(task: SearchTask, method: str, workers: int = 1, scheduler: str | None = None,
               on_progress: ProgressFn | None = None) -> RunSummary:
    """Search with `workers` independent seeds; see the module docstring."""
    report = on_progress or (lambda i, p: None)
    with _Interrupt() as intr:
        if scheduler:
            summary = _run_dask(task, method, max(workers, 1), scheduler, report, intr.flag)
        elif workers <= 1:
            outcome = run_job(task, method, intr.flag.is_set, lambda p: report(0, p))
            summary = RunSummary(outcome, [outcome])
        else:
            summary = _run_processes(task, method, workers, report, intr.flag)
        summary.interrupted = intr.flag.is_set()
    if summary.interrupted and summary.outcome.scheme is None:
        summary.outcome.stopped = "interrupted"
    return summary


# -- worker processes -------------------------------------------------------------------

def _process_main(task: SearchTask, method: str, index: int, stop_event, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    last = [0.0]

    def report(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.2:
            last[0] = now
            try:
                results.put(("progress", index, p))
            except Exception:  # noqa: BLE001 - progress is best effort
                pass

    try:
        outcome = run_job(task, method, stop_event.is_set, report)
    except FastmmError as exc:  # a refused request: one line in the parent, not a traceback here
        results.put(("error", index, exc))
        return
    results.put(("done", index, outcome))


def _seeded(task: SearchTask, i: int) -> SearchTask:
    return dataclasses.replace(task, seed=task.seed + i)


def _run_processes(task: SearchTask, method: str, workers: int, report: ProgressFn,
                   interrupted: threading.Event) -> RunSummary:
    import multiprocessing as mp  # here: one worker, the common case, does not pay for it

    ctx = mp.get_context("fork")
    stop = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_process_main, args=(_seeded(task, i), method, i, stop, results),
                         daemon=True) for i in range(workers)]
    for p in procs:
        p.start()
    outcomes: dict[int, SearchOutcome] = {}
    failures: list[str] = []
    errors: list[FastmmError] = []
    best: SearchOutcome | None = None
    pending = set(range(workers))
    while pending:
        if interrupted.is_set():
            stop.set()
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
        if _better(best, payload):
            best = payload
        if payload.scheme is not None:
            stop.set()
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
    if errors:
        raise errors[0]
    if best is None:
        raise FastmmError("every worker died: " + "; ".join(failures))
    return RunSummary(best, [outcomes[i] for i in sorted(outcomes)], failures=failures)


# -- dask.distributed --------------------------------------------------------------------

def _dask_job(task: SearchTask, method: str, event_name: str) -> SearchOutcome:
    """Runs on a dask worker: poll the cluster-wide stop event at most twice a second."""
    from distributed import Event, get_client

    event = Event(event_name, client=get_client())
    state = {"t": 0.0, "set": False}

    def should_stop() -> bool:
        now = time.monotonic()
        if not state["set"] and now - state["t"] >= 0.5:
            state["t"] = now
            try:
                state["set"] = event.is_set()
            except Exception:  # noqa: BLE001 - a lost scheduler must not kill the walk
                pass
        return state["set"]

    return run_job(task, method, should_stop, lambda p: None)


def _run_dask(task: SearchTask, method: str, jobs: int, address: str, report: ProgressFn,
              interrupted: threading.Event) -> RunSummary:
    try:
        from distributed import Client, Event
    except ImportError:
        msg = "--scheduler needs dask.distributed: pip install 'fastmm[dist]'"
        raise FastmmError(msg) from None
    try:
        client = Client(address, timeout="5s", set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is one line for the user
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise FastmmError(f"cannot reach the dask scheduler at {address}: {why}") from None
    failures: list[str] = []
    outcomes: list[SearchOutcome] = []
    best: SearchOutcome | None = None
    try:
        name = f"fastmm-stop-{uuid.uuid4().hex}"
        stop = Event(name, client=client)
        futures = [client.submit(_dask_job, _seeded(task, i), method, name, pure=False)
                   for i in range(jobs)]
        seeds = {f.key: task.seed + i for i, f in enumerate(futures)}
        waiting = list(futures)
        while waiting:
            if interrupted.is_set():
                stop.set()
            batch = [f for f in waiting if f.done()]
            if not batch:
                time.sleep(0.05)
                continue
            waiting = [f for f in waiting if f not in batch]
            for fut in batch:
                try:
                    outcome = fut.result()
                except FastmmError:  # a refused request: every job would refuse it
                    stop.set()
                    raise
                except Exception as exc:  # noqa: BLE001 - a dead worker is reported, not fatal
                    failures.append(f"seed {seeds.get(fut.key)} failed on the cluster: {exc}")
                    continue
                outcomes.append(outcome)
                report(seeds.get(fut.key, task.seed) - task.seed,
                       Progress(rank=outcome.best_rank or 0, steps=outcome.steps))
                if _better(best, outcome):
                    best = outcome
                if outcome.scheme is not None:
                    stop.set()
    finally:
        client.close()
    if best is None:
        raise FastmmError("no cluster job returned a result: " + "; ".join(failures))
    return RunSummary(best, outcomes, failures=failures)

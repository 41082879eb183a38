"""The runner: one job function for in-process, worker processes and dask; stop at first success."""

import time

import pytest

from fastmm.search import base
from fastmm.search.base import SearchTask
from fastmm.search.runner import run_search


@pytest.fixture(autouse=True)
def fake_methods(monkeypatch):
    monkeypatch.setitem(base.METHODS, "fake-win", "tests.search.fake_methods:seed_three_wins")
    monkeypatch.setitem(base.METHODS, "fake-die", "tests.search.fake_methods:seed_one_dies")
    monkeypatch.setitem(base.METHODS, "fake-refuse", "tests.search.fake_methods:refuses_seed_one")


def test_single_process_time_limit_returns_best():
    t = time.monotonic()
    summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=0.3), "fake-win")
    assert time.monotonic() - t < 3
    assert summary.outcome.scheme is None and summary.outcome.best.rank == 8
    assert summary.outcome.stopped == "time"


def test_workers_stop_at_first_success_and_report_progress():
    seen = set()
    t = time.monotonic()
    summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=30), "fake-win", workers=4,
                         on_progress=lambda i, p: seen.add(i))
    assert time.monotonic() - t < 10  # nobody waited for the 30 s limit
    assert summary.outcome.scheme is not None and summary.outcome.seed == 3
    assert len(summary.outcomes) == 4  # every worker returned what it had
    assert seen  # progress arrived from the workers


def test_a_dead_worker_is_reported_and_the_rest_finish():
    summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=0.5), "fake-die", workers=3)
    assert any("worker 1 (seed 1) died with exit code 9" in f for f in summary.failures)
    assert summary.outcome.best.rank == 8 and len(summary.outcomes) == 2


def test_a_request_refused_in_a_worker_is_the_same_error_in_the_caller(capfd):
    """A method's InputError in a worker process: raised in the parent as it is, the other
    workers stopped at once, and no worker traceback on stderr."""
    from fastmm.errors import InputError

    t = time.monotonic()
    with pytest.raises(InputError, match="fake option x must be a number"):
        run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=30), "fake-refuse", workers=3)
    assert time.monotonic() - t < 10
    assert "Traceback" not in capfd.readouterr().err


def test_dask_local_cluster_runs_the_same_jobs():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=30), "fake-win", workers=4,
                             scheduler=cluster.scheduler_address)
    assert summary.outcome.scheme is not None and summary.outcome.seed == 3


def test_unreachable_scheduler_is_one_clear_error():
    pytest.importorskip("distributed")
    from fastmm.errors import FastmmError

    with pytest.raises(FastmmError, match="cannot reach the dask scheduler at tcp://127.0.0.1:9"):
        run_search(SearchTask(2, 2, 2, 7, time_limit=1), "fake-win", scheduler="tcp://127.0.0.1:9")


def _listener(answer: bytes | None):
    """A local port that accepts connections and says nothing (None) or `answer` (not dask)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []

    def serve() -> None:
        while True:
            try:
                conn = server.accept()[0]
            except OSError:
                return
            if answer is not None:
                conn.sendall(answer)
            held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    return server, f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("answer, why", [(None, "no answer within 2 s"),
                                         (b"HTTP/1.1 400 Bad\r\n\r\n" + b"1" * 64, "not the dask protocol"),
                                         (b"\xff" * 64, "not the dask protocol"),
                                         (b"\x00" * 8, "not the dask protocol")])
def test_a_port_that_is_not_a_dask_scheduler_fails_within_the_time_limit(answer, why):
    # a silent port held the search forever, deaf to Ctrl-C and SIGTERM; a talking one failed
    # with "Unable to allocate 3.07 EiB" and a traceback from the half-built client's __del__
    pytest.importorskip("distributed")
    from fastmm.errors import FastmmError

    server, address = _listener(answer)
    t0 = time.monotonic()
    try:
        with pytest.raises(FastmmError, match=why):
            run_search(SearchTask(2, 2, 2, 7, time_limit=2), "fake-win", scheduler=address)
    finally:
        server.close()
    assert time.monotonic() - t0 < 8


def test_spn_without_torch_is_one_clear_error(monkeypatch):
    import sys

    from fastmm.errors import FastmmError
    from fastmm.search.base import method_function

    monkeypatch.delitem(sys.modules, "fastmm.search.spn", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(FastmmError, match=r"--method spn needs PyTorch: pip install 'fastmm\[nn\]'"):
        method_function("spn")


def test_real_pool_method_in_worker_processes_returns_a_verified_scheme():
    from fastmm.verify import verify

    summary = run_search(SearchTask(2, 3, 3, 15, "ZT", seed=0, time_limit=120), "pool", workers=2)
    s = summary.outcome.scheme
    assert s is not None and s.rank <= 15 and verify(s, use_sympy=False).ring == "ZT"
    assert summary.failures == []


def test_real_flip_method_on_a_dask_cluster_of_worker_processes():
    distributed = pytest.importorskip("distributed")
    from fastmm.verify import verify

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        summary = run_search(SearchTask(2, 2, 3, 11, "ZT", seed=0, time_limit=120), "flip", workers=2,
                             scheduler=cluster.scheduler_address)
    s = summary.outcome.scheme
    assert s is not None and s.rank == 11 and verify(s, use_sympy=False).ok


def test_progress_shows_the_best_valid_rank_and_an_unliftable_mod_2_low_in_the_note():
    from fastmm.search.base import valid_rank_note

    assert valid_rank_note(50, 49, "level 50") == (50, "level 50, mod 2 49")
    assert valid_rank_note(50, 50, "level 50") == (50, "level 50")
    assert valid_rank_note(None, 49, "walk") == (49, "walk")  # nothing valid yet: the walk's low


def test_dask_jobs_queued_behind_busy_workers_keep_the_time_limit():
    """One worker thread, four jobs of one second each: the client's limit stops the queue."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        t = time.monotonic()
        summary = run_search(SearchTask(2, 2, 2, 7, seed=4, time_limit=1), "fake-win", workers=4,
                             scheduler=cluster.scheduler_address)
        took = time.monotonic() - t
    assert summary.outcome.scheme is None and len(summary.outcomes) == 4
    assert took < 3.5, took

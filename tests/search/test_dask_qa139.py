"""QA-139: searches on a dask cluster: progress from running jobs, a job whose client is gone
stops, deaths and an empty cluster are said, and a --resume folder is named absolutely."""

import os
import time
import warnings

import pytest

from fastmm.search import base, runner
from fastmm.search.base import SearchTask
from fastmm.search.runner import run_search

distributed = pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def fake_methods(monkeypatch):
    monkeypatch.setitem(base.METHODS, "fake-win", "tests.search.fake_methods:seed_three_wins")


def test_running_cluster_jobs_send_their_progress_before_they_return(monkeypatch):
    """The progress line only moved when a job returned: hours of 'searching ... 0.1 s'."""
    monkeypatch.setattr(runner, "DASK_REPORT_S", 0.2)
    seen = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=3), "fake-win", workers=2,
                             scheduler=cluster.scheduler_address,
                             on_progress=lambda i, p: seen.append((time.monotonic(), i, p.rank, p.steps)))
    assert summary.outcome.scheme is None and len(summary.outcomes) == 2
    early = [s for s in seen if s[3] > 0 and s[2] == 8]  # the fake walk reports rank 8
    assert {i for _, i, _, _ in early} == {0, 1}, seen
    # and what the stopped jobs returned without a valid scheme below the naive one: rank 8, not 7
    assert all(rank != 7 for _, _, rank, _ in seen), seen


def test_a_cluster_job_whose_client_is_gone_stops(monkeypatch):
    """A killed client left its job walking to its own time limit, holding the worker."""
    monkeypatch.setattr(runner, "DASK_ORPHAN_S", 1.5)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster.scheduler_address) as client:
        distributed.Variable("orphan-beat", client=client).set(1)  # one beat, never another
        t = time.monotonic()
        fut = client.submit(runner._dask_job, SearchTask(2, 2, 2, 7, seed=0, time_limit=60), "fake-win",
                            "orphan", 0, pure=False)
        outcome = fut.result(timeout=30)
    assert outcome.scheme is None and outcome.stopped == "stopped"
    assert time.monotonic() - t < 10


def test_an_empty_cluster_and_a_cancelled_job_are_said():
    from fastmm.api import search
    from fastmm.errors import SearchFailed

    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(SearchFailed):
                search((2, 2, 3), 11, workers=2, scheduler=cluster.scheduler_address, time_limit=2,
                       sympy=False)
    said = [str(w.message) for w in caught]
    assert any("has no workers yet" in m for m in said), said
    assert any("2 job(s) had not returned" in m and "cancelled" in m for m in said), said


def test_a_dead_worker_process_is_said(monkeypatch):
    from fastmm.api import search
    from fastmm.errors import SearchFailed

    monkeypatch.setitem(base.METHODS, "fake-dies", "tests.search.fake_methods:seed_one_dies")
    monkeypatch.setattr("fastmm.api.methods", lambda: ("auto", *base.METHODS))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SearchFailed):
            search((2, 2, 2), 7, method="fake-dies", workers=2, time_limit=2, sympy=False)
    assert any("worker 1 (seed 1) died with exit code 9" in str(w.message) for w in caught), caught


def test_a_relative_resume_folder_reaches_the_walks_as_an_absolute_path(tmp_path, monkeypatch):
    """A dask worker resolved a relative --resume against its own working directory."""
    from fastmm.api import SearchRequest
    from fastmm.search.checkpoint import open_for_search

    monkeypatch.chdir(tmp_path)
    ck = open_for_search("ck", SearchRequest((2, 2, 3), 11, method="flip"))
    assert ck.task_options()["checkpoint_dir"] == os.path.join(str(tmp_path), "ck")


def test_the_client_makes_no_unbounded_scheduler_call_and_leaves_no_queue(monkeypatch):
    """QA-141: distributed.Queue's constructor waits on the scheduler without a limit (a scheduler
    that stopped answering held the search forever, deaf to signals), and each search left its
    progress queue on the scheduler."""
    def refuse(*args, **kwargs):
        raise AssertionError("distributed.Queue waits without a time limit")

    monkeypatch.setattr(distributed, "Queue", refuse)
    monkeypatch.setattr(runner, "DASK_REPORT_S", 0.2)
    seen = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=2), "fake-win", workers=2,
                             scheduler=cluster.scheduler_address, on_progress=lambda i, p: seen.append(p))
        time.sleep(0.5)  # the release is a stream message
        queues = cluster.scheduler.extensions["queues"].queues
        assert not [name for name in queues if name.startswith("fastmm-stop-")], list(queues)
    assert summary.outcome.scheme is None and any(p.steps > 0 and p.rank == 8 for p in seen)


def test_one_heartbeat_the_scheduler_let_time_out_does_not_stop_the_jobs(monkeypatch):
    """A scheduler slow for a moment must not end a long search: heartbeats resume after a pause
    well within the jobs' orphan window."""
    monkeypatch.setattr(runner, "DASK_ORPHAN_S", 3.0)  # beats every 1 s; one missed, 1 s quiet
    calls = {"n": 0}
    real_set = distributed.Variable.set

    def flaky_set(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise TimeoutError("the scheduler did not answer in time")
        return real_set(self, *args, **kwargs)

    monkeypatch.setattr(distributed.Variable, "set", flaky_set)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=6), "fake-win", workers=1,
                             scheduler=cluster.scheduler_address)
    assert calls["n"] >= 3, (calls, summary)  # beats went on after the one that timed out
    assert summary.outcomes and summary.outcomes[0].seconds >= 5.5, summary.outcomes

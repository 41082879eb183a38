"""QA-105: a dask search whose jobs no worker runs (no worker, or the only one killed) ends soon
after its time limit or a stop request; a lost scheduler is one line, not dask's tracebacks."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from fastmm.search import base
from fastmm.search.base import SearchTask
from fastmm.search.runner import DASK_GRACE, run_search

distributed = pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def fake_methods(monkeypatch):
    monkeypatch.setitem(base.METHODS, "fake-win", "tests.search.fake_methods:seed_three_wins")


@pytest.fixture
def no_workers():
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_a_cluster_without_workers_ends_after_the_time_limit(no_workers):
    t = time.monotonic()
    summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=2), "fake-win", workers=2,
                         scheduler=no_workers)
    took = time.monotonic() - t
    assert summary.outcome.scheme is None and summary.outcome.stopped == "time"
    assert not summary.interrupted and summary.outcomes == []
    assert any("cancelled" in f for f in summary.failures)
    assert took < 2 + DASK_GRACE + 10, took


def test_a_stop_request_ends_a_search_no_worker_runs(no_workers):
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t = time.monotonic()
    try:
        summary = run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=120), "fake-win", workers=2,
                             scheduler=no_workers)
    finally:
        timer.cancel()
    took = time.monotonic() - t
    assert summary.interrupted and summary.outcome.stopped == "interrupted"
    assert took < 1 + DASK_GRACE + 10, took


@pytest.fixture
def tcp_scheduler():
    """A scheduler without workers in a process of its own: (its process, its tcp address)."""
    proc = subprocess.Popen([sys.executable, "-c", _SCHEDULER], stdout=subprocess.PIPE, text=True)
    try:
        address = proc.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        yield proc, address
    finally:
        proc.kill()
        proc.wait()


def test_the_command_line_without_workers_fails_in_one_line_after_the_time_limit(tcp_scheduler):
    from tests.hostile.contract import run_cli

    r = run_cli("search", "2", "2", "2", "--rank", "7", "--scheduler", tcp_scheduler[1], "--workers", "2",
                "--time-limit", "2")
    assert r.rc == 1, (r.rc, r.err)
    assert "no ⟨2,2,2⟩ scheme of rank 7" in r.err and "Traceback" not in r.err
    assert r.seconds < 2 + DASK_GRACE + 12, r.seconds


def test_a_scheduler_lost_mid_search_is_one_error(tcp_scheduler, capfd):
    from fastmm.errors import FastmmError

    proc, address = tcp_scheduler
    timer = threading.Timer(2.0, proc.kill)
    timer.start()
    t = time.monotonic()
    try:
        with pytest.raises(FastmmError, match="scheduler at tcp://.* was lost"):
            run_search(SearchTask(2, 2, 2, 7, seed=0, time_limit=60), "fake-win", workers=2,
                       scheduler=address)
    finally:
        timer.cancel()
    assert time.monotonic() - t < 20
    err = capfd.readouterr().err
    assert "Traceback" not in err and "distributed.client - ERROR" not in err, err


_SCHEDULER = """
import asyncio
from distributed import Scheduler

async def main():
    async with Scheduler(port=0, dashboard_address=None) as s:
        print(s.address, flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""

"""`fastmm site --workers K` and its worker processes: results in order, a failed page raised in
the starter, and an interrupt (SIGINT, SIGTERM, SIGHUP to the whole process group, as a terminal's
Ctrl-C sends it) ends and reaps every worker; the old site stays as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastmm.site import build_site
from fastmm.site.workers import parallel_map
from tests.hostile.contract import changed, snapshot
from tests.site.conftest import small_catalog


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_parallel_map_keeps_the_order_of_the_items():
    assert parallel_map(_square, list(range(20)), 3) == [x * x for x in range(20)]


def test_an_exception_in_a_worker_is_raised_in_the_starter():
    with pytest.raises(ValueError, match="three"):
        parallel_map(_fail_on_three, [1, 2, 3, 4], 2)


def _handlers(_x: int) -> tuple:
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)


def test_a_worker_ignores_ctrl_c_and_ends_on_sigterm_and_sighup():
    # it used to inherit the command's stop handlers: SIGTERM raised KeyboardInterrupt, caught
    # around the page, and the worker went on
    from fastmm.search.runner import StopSignals

    with StopSignals():
        got = parallel_map(_handlers, [0, 1], 2)
    assert got == [(signal.SIG_IGN, signal.SIG_DFL, signal.SIG_DFL)] * 2


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_process_group_ends_and_reaps_the_workers_at_once(tmp_path, sig):
    # a Ctrl-C waited for the pages already handed out, and a second one while it waited left
    # the workers behind, waiting on a pipe, deaf to SIGTERM
    site = tmp_path / "site"
    cat = small_catalog(site / "cat", ("2x2x3-rank11-ZT.json", "2x2x4-rank14-ZT.json"))
    out = site / "out"
    build_site(out, catalog=cat)
    before = snapshot(site)
    busy = tmp_path / "busy"
    busy.mkdir()
    script = (
        "import os, sys, time\n"
        "import fastmm.site.builder as b\n"
        "from fastmm.cli import main\n"
        "def slow(item):\n"
        f"    open(os.path.join({str(busy)!r}, str(os.getpid())), 'w').close()\n"
        "    time.sleep(60)\n"
        "b.scheme_facts = slow\n"
        f"sys.argv = ['fastmm', 'site', {str(out)!r}, '--catalog', {str(cat)!r}, '--workers', '2']\n"
        "main()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # a process group of its own, as in a terminal
    try:
        t0 = time.monotonic()
        while len(list(busy.iterdir())) < 2 and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        workers = [int(p.name) for p in busy.iterdir()]
        assert len(workers) == 2
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=30)  # not a minute for each page handed out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in [int(p.name) for p in busy.iterdir()]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig, err
    assert err == "interrupted\n"
    assert sorted(int(p.name) for p in busy.iterdir()) == sorted(workers)  # no page started after
    assert [pid for pid in workers if _alive(pid)] == []
    assert not changed(before, snapshot(site))  # the old site whole, no temporaries

"""SIGTERM and SIGHUP stop `fastmm search` as Ctrl-C does: the best scheme saved, the summary
line, the checkpoint closed, exit 128 + the signal, and no worker process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastmm.io import load_scheme
from fastmm.verify import verify
from tests.hostile.contract import wait_for

# rank 28 for ⟨3,3,4⟩ is below the best known (29): the search runs until it is stopped
SEARCH = ("search", "3", "3", "4", "--rank", "28", "--time-limit", "60", "--no-sympy")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig, workers", [(signal.SIGTERM, "1"), (signal.SIGHUP, "1"), (signal.SIGTERM, "2")])
def test_term_and_hup_save_the_best_and_say_so(tmp_path, sig, workers):
    ck = tmp_path / "ck"
    proc = subprocess.Popen([sys.executable, "-m", "fastmm", *SEARCH, "--workers", workers,
                             "--resume", str(ck), "-o", str(tmp_path / "out.json")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kids: list[int] = []
    try:
        assert wait_for(lambda: list(ck.glob("pool-seed*.json")), 60), "the search saved nothing"
        time.sleep(0.5)
        kids = children(proc.pid)
        assert len(kids) >= (2 if workers == "2" else 0)
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + sig, err
        assert err.count("\n") == 1 and err.startswith("error: no ⟨3,3,4⟩ scheme of rank 28 over ZT before "
                                                        "the interrupt; best rank reached ")
        assert f"--resume {ck} continues" in err
        saved = tmp_path / err.split("(saved to ")[1].split(")")[0]
        assert verify(load_scheme(saved), use_sympy=False).ok
        assert verify(load_scheme(ck / "best.json"), use_sympy=False).ok
        assert json.loads((ck / "checkpoint.json").read_text())["status"] == "interrupted"
        assert wait_for(lambda: not any(alive(k) for k in kids), 5), "worker processes outlived the search"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reap(kids)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_workers_of_a_killed_search_stop_by_themselves(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "fastmm", *SEARCH, "--workers", "2", "-q"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: len(children(proc.pid)) == 2, 60)
        kids = children(proc.pid)
        time.sleep(1)
    finally:
        proc.kill()  # SIGKILL: the parent cannot tell the workers anything
        proc.wait()
    try:
        assert wait_for(lambda: not any(alive(k) for k in kids), 10), "orphaned workers kept searching"
    finally:
        reap(kids)


def reap(pids: list[int]) -> None:
    """Kill what a failing test left running (these workers are this test's own)."""
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _ignoring_hangups() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup does before it runs the command


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_hangup_ignored_by_whoever_started_it_stays_ignored(tmp_path, workers):
    """QA-132: `nohup fastmm search ...` stopped (exit 129) when its terminal closed."""
    proc = subprocess.Popen([sys.executable, "-m", "fastmm", "search", "3", "3", "4", "--rank", "28",
                             "--time-limit", "6", "--no-sympy", "--workers", workers, "--resume",
                             str(tmp_path / "ck"), "-o", str(tmp_path / "out.json")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ignoring_hangups)
    try:
        saved = lambda: list((tmp_path / "ck").glob("pool-seed*.json"))  # noqa: E731
        assert wait_for(saved, 60), "the search saved nothing"
        os.kill(proc.pid, signal.SIGHUP)
        for kid in children(proc.pid):
            os.kill(kid, signal.SIGHUP)  # a closing terminal hangs up the whole job
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err  # the time limit ended it, not the hangup
    assert "within 6 s" in err and "before the interrupt" not in err

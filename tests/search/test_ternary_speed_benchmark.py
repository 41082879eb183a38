"""benchmarks/ternary_speed.py: both walks from the same starts end in the same state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fastmm.search import flip_c

ROOT = Path(__file__).resolve().parents[2]


def test_the_c_and_numba_walks_are_timed_side_by_side_and_agree():
    if flip_c.load_ternary() is None:
        pytest.skip("no C compiler")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ternary_speed.py"), "--steps", "20000",
                           "--repeats", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("end states equal") == 2
    assert "3x4x5-rank48-ZT.json: plus_limit 52" in out and "5x5x6-rank110-ZT.json: plus_limit 114" in out
    assert out.count("C/numba") == 4

"""benchmarks/fit_rate.py: real fits counted per restart and per sweep, bad cases refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]


def test_fit_rate_counts_restarts_fits_and_redraws(tmp_path):
    out = tmp_path / "fr"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fit_rate.py"), "--case", "2,2,2:7",
                           "--case", "2,2,2:7:redraw=0", "--seeds", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    with_redraws, without = rows
    assert with_redraws["restarts"] == without["restarts"] == 64
    assert without["redraws"] == 0 and with_redraws["redraws"] > 0
    assert without["fitted"] <= with_redraws["fitted"] <= 64
    assert with_redraws["fitted_per_restart"] == round(with_redraws["fitted"] / 64, 4)
    assert "| ⟨2,2,2;7⟩ | redraw=0 | 1 |" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("case", ["2,2:7", "2,2,2", "2,2,2:7:redraw"])
def test_a_malformed_case_is_one_line(tmp_path, case):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fit_rate.py"), "--case", case,
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.md").exists()

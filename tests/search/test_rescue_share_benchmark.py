"""benchmarks/rescue_share.py: searches with the rescue off and at its default share, side by side."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_both_settings_search_every_seed_and_the_report_compares_them(tmp_path):
    out = tmp_path / "report.md"
    script = ROOT / "benchmarks" / "rescue_share.py"
    proc = subprocess.run([sys.executable, str(script), "--shapes", "2,2,3:11", "--seeds", "2",
                           "--time-limit", "60", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("⟨2,2,3⟩ seed")]
    assert [x.split(":")[0] for x in lines] == ["⟨2,2,3⟩ seed 0 rescue off", "⟨2,2,3⟩ seed 0 rescue default",
                                                "⟨2,2,3⟩ seed 1 rescue off", "⟨2,2,3⟩ seed 1 rescue default"]
    assert all("'found': True" in x for x in lines)
    report = out.read_text()
    assert "--option exclude_catalog_shapes" not in report  # the command, not the internals
    row = next(x for x in report.splitlines() if x.startswith("| ⟨2,2,3;11⟩"))
    assert row.split("|")[1:3] == [" ⟨2,2,3;11⟩ ", " 2/2 "] and row.split("|")[4] == " 2/2 "

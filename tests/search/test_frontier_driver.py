"""benchmarks/frontier.py: its attempt log survives a machine without runs/ (report → import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "frontier.py"

RECORDS = [
    {"shape": [3, 4, 5], "target": 47, "seed": 50, "rc": 1, "seconds": 300.5,
     "stderr": "error: no ⟨3,4,5⟩ scheme of rank 47 over ZT within 300 s; best rank reached 48",
     "added": [], "command": "fastmm search 3 4 5 --rank 47 --ring ZT --seed 50",
     "start": "2026-12-03 06:34:32"},
    {"shape": [3, 4, 5], "target": 47, "seed": 51, "rc": 1, "seconds": 900.4,
     "stderr": "error: no ⟨3,4,5⟩ scheme of rank 47 over ZT within 900 s; best rank reached 48; "
               "--resume ck continues (it keeps a scheme of rank 47 valid modulo 2 only, which did not "
               "lift: ck/gf2-seed51.json)",
     "added": [47], "command": "fastmm search 3 4 5 --rank 47 --ring ZT --seed 51 --resume ck",
     "start": "2026-12-03 07:00:00"},
    {"shape": [4, 4, 5], "target": 61, "seed": 7, "rc": 1, "seconds": 60.0, "gf2_low": 62,
     "stderr": "error: no ⟨4,4,5⟩ scheme of rank 61 over ZT within 60 s; best rank reached 63; (cut)",
     "added": [], "command": "fastmm search 4 4 5 --rank 61 --ring ZT --seed 7",
     "start": "2026-12-03 07:30:00"},
    {"shape": [2, 5, 6], "target": 47, "seed": 22, "rc": 1, "seconds": 301.0,
     "stderr": "best rank reached 48", "added": [49, 48],
     "command": "fastmm search 2 5 6 --rank 47 --ring ZT --seed 22", "start": "2026-12-03 09:00:00"},
    {"shape": [2, 3, 6], "target": 30, "seed": 0, "rc": 0, "seconds": 1.0, "stderr": "", "added": [30],
     "command": "fastmm search 2 3 6 --rank 30 --ring ZT --seed 0", "start": "2026-12-03 06:22:26",
     "by": "hand"},
]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_report_then_import_gives_back_every_attempt(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    md = tmp_path / "attempts.md"
    assert _run("--report", str(old), "--report-out", str(md)).returncode == 0
    new = tmp_path / "new"
    proc = _run("--import-report", str(md), "--work", str(new))
    assert proc.returncode == 0, proc.stderr
    back = [json.loads(line) for line in (new / "log.jsonl").read_text().splitlines()]
    keys = ("shape", "target", "seed", "rc", "added", "command", "start")
    assert [{k: r[k] for k in keys} for r in back] == [{k: r[k] for k in keys} for r in RECORDS]
    assert [r.get("by") for r in back] == [None, None, None, None, "hand"]
    assert "best rank reached 48" in back[0]["stderr"] and back[4]["stderr"] == ""
    assert "| 63 (mod 2: 62) |" in md.read_text()  # the record's gf2_low, where stderr was cut
    # a GF(2) rank that did not lift is shown beside the rank reached and survives the round trip
    assert "| ⟨3,4,5⟩ | 47 | 2 | 1,200 | 48 (mod 2: 47) | 47 |" in md.read_text()
    assert "| 48 (mod 2: 47) | 47 |" in md.read_text()
    assert "best rank reached 48; it keeps a scheme of rank 47 valid modulo 2 only" == back[1]["stderr"]
    # the rebuilt log reports the same table, totals included (QA-135: they were summed from unrounded
    # seconds, the rows show whole ones: 300.5 + 900.4 gave 1,201 here, 1,200 from the rows)
    again = tmp_path / "again.md"
    assert _run("--report", str(new), "--report-out", str(again)).returncode == 0
    assert again.read_text().replace(str(new), "W") == md.read_text().replace(str(old), "W")


def test_import_never_replaces_a_log_that_holds_attempts(tmp_path):
    (tmp_path / "log.jsonl").write_text(json.dumps(RECORDS[0]) + "\n")
    md = tmp_path / "attempts.md"
    assert _run("--report", str(tmp_path), "--report-out", str(md)).returncode == 0
    before = (tmp_path / "log.jsonl").read_bytes()
    proc = _run("--import-report", str(md), "--work", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'log.jsonl'} already holds attempts; not replaced"]
    assert (tmp_path / "log.jsonl").read_bytes() == before


def test_ternary_attempts_walk_from_the_working_catalogue_entry(tmp_path):
    """--method ternary: each attempt starts from the shape's entry in the working catalogue
    (here the naive ⟨2,2,3;12⟩) and what it finds replaces that entry."""
    from fastmm.io import load_scheme, save_scheme
    from fastmm.scheme import naive_scheme

    (tmp_path / "catalog").mkdir()
    start = tmp_path / "catalog" / "2x2x3-rank12-ZT.json"
    save_scheme(naive_scheme(2, 2, 3).with_meta(ring="ZT"), start)
    proc = _run("--work", str(tmp_path), "--shapes", "2,2,3", "--rounds", "1", "--time-limit", "60",
                "--method", "ternary")
    assert proc.returncode == 0, proc.stderr
    (record,) = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert record["rc"] == 0 and record["added"] == [11]
    assert "--method ternary" in record["command"]
    assert record["command"].endswith(f"--start {start.resolve()}")
    (entry,) = (tmp_path / "catalog").glob("2x2x3-*.json")
    assert load_scheme(entry).rank == 11


def test_first_seed_starts_a_second_driver_above_the_logged_seeds(tmp_path):
    """--first-seed: seeds start there when the log holds only lower ones (two drivers, one shape)."""
    from fastmm.io import save_scheme
    from fastmm.scheme import naive_scheme

    (tmp_path / "catalog").mkdir()
    save_scheme(naive_scheme(2, 2, 3).with_meta(ring="ZT"), tmp_path / "catalog" / "2x2x3-rank12-ZT.json")
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(dict(RECORDS[0], shape=[2, 2, 3], seed=s)) + "\n"
                                                for s in (7, 3004)))
    proc = _run("--work", str(tmp_path), "--shapes", "2,2,3", "--rounds", "1", "--time-limit", "60",
                "--first-seed", "5000")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in records] == [7, 3004, 5000] and "--seed 5000" in records[2]["command"]
    # each driver continues in its own window of 1,000 seeds, whatever another one logged
    (tmp_path / "catalog" / "2x2x3-rank11-ZT.json").unlink()
    save_scheme(naive_scheme(2, 2, 3).with_meta(ring="ZT"), tmp_path / "catalog" / "2x2x3-rank12-ZT.json")
    assert _run("--work", str(tmp_path), "--shapes", "2,2,3", "--rounds", "1", "--time-limit", "60"
                ).returncode == 0
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records[-1]["seed"] == 8

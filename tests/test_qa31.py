"""Session 31 fixes outside the search: `combine -o -` prints the scheme as export does."""

import json
import os

import fastmm
from tests.hostile.contract import run_cli

CATALOG = fastmm.__path__[0] + "/data/catalog/"


def test_combine_to_stdout_prints_the_verified_scheme_and_writes_no_file(tmp_path):
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        r = run_cli("combine", "sum", CATALOG + "2x2x2-rank7-ZT.json", CATALOG + "2x2x2-rank7-ZT.json",
                    "--axis", "p", "-o", "-")
    finally:
        os.chdir(here)
    assert r.rc == 0, r.err
    data = json.loads(r.out)
    assert data["shape"] == [2, 2, 4] and data["rank"] == 14 and data["verified"]["ok"] is True
    assert "printed ⟨2,2,4;14⟩" in r.err
    assert list(tmp_path.iterdir()) == []  # no file named "-"

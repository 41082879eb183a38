"""QA-30 on the catalogue, site, bench and combine: a linked entry judged by its own name, a
catalogue folder whose name holds rich markup, outputs that would replace an input, the site
within the shared-subexpression work limit, warnings from `fastmm.catalog()`, and bench's levels
for a ⟨1,1,1⟩ scheme."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import fastmm
from fastmm.bench import effective_levels
from fastmm.catalog import CatalogWarning
from fastmm.io import dumps
from tests.hostile.contract import assert_clean, run_cli
from tests.test_catalog_qa28 import _row, run


def _entry(folder: Path, scheme: fastmm.Scheme, name: str) -> Path:
    path = folder / name
    path.write_text(dumps(fastmm.verified(scheme, sympy=False)))
    return path


def test_a_link_named_for_another_shape_is_judged_by_its_own_name(tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    _entry(folder, fastmm.naive_scheme(2, 2, 2), "2x2x2-rank8-ZT.json")
    for alias in ("2x2x1-rank8-ZT.json", "2x2x3-rank8-ZT.json"):  # sorted before and after it
        (folder / alias).symlink_to("2x2x2-rank8-ZT.json")
    r = run("catalog", catalog=folder)
    assert r.returncode == 0, r.stderr
    assert _row(r.stdout, "2×2×2")[5] == "8"  # the real file is listed (column "catalogue")
    assert r.stderr.count("2x2x1-rank8-ZT.json") == 1 and r.stderr.count("2x2x3-rank8-ZT.json") == 1


def test_a_catalogue_folder_named_like_markup_is_shown_as_it_is(tmp_path):
    if shutil.which("script") is None:
        pytest.skip("needs util-linux `script` for a terminal")
    folder = tmp_path / "c[" / "]at"  # rich would read "[/]" as a closing tag
    folder.mkdir(parents=True)
    _entry(folder, fastmm.strassen(), "2x2x2-rank7-ZT.json")
    r = subprocess.run(["script", "-qec", f"{sys.executable} -m fastmm catalog", "/dev/null"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, FASTMM_CATALOG=str(folder), COLUMNS="200"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "internal error" not in r.stdout and "c[/]at" in r.stdout


def test_fastmm_catalog_reports_skipped_files_as_warnings(tmp_path, monkeypatch):
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "2x2x2-rank7-ZT.json").write_text("{}")
    monkeypatch.setenv("FASTMM_CATALOG", str(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastmm.catalog(2)
    ours = [w for w in caught if issubclass(w.category, CatalogWarning)]
    assert ours and all(w.filename == __file__ for w in ours)  # the caller's line, not fastmm's


@pytest.fixture
def strassen_file(tmp_path: Path) -> Path:
    return _entry(tmp_path, fastmm.strassen(), "s.json")


def test_bench_refuses_outputs_that_are_its_input_or_each_other(strassen_file, tmp_path):
    before = strassen_file.read_bytes()
    for args in (["--json", strassen_file], ["--plot", strassen_file],
                 ["--plot", tmp_path / "x.out", "--json", tmp_path / "x.out"]):
        r = run_cli("bench", strassen_file, "--size", "8", "--cutoff", "1", *args)
        assert_clean(r, allowed=(2,))
    assert strassen_file.read_bytes() == before


def test_combine_refuses_to_write_over_an_input(strassen_file):
    before = strassen_file.read_bytes()
    r = run_cli("combine", "project", strassen_file, "--axis", "n", "--index", "0", "-o", strassen_file)
    assert_clean(r, allowed=(2,))
    assert "is the input file" in r.err
    assert strassen_file.read_bytes() == before


def test_bench_counts_one_level_for_a_1x1x1_scheme():
    assert effective_levels((1, 1, 1), 64, 16, 1) == 1
    assert effective_levels((2, 2, 2), 64, 16, 1) == 6


def test_the_site_skips_shared_subexpressions_beyond_the_work_limit(monkeypatch):
    from fastmm.site.facts import scheme_facts
    from fastmm.site.sources import SiteScheme

    monkeypatch.setattr("fastmm.metrics.CSE_WORK_LIMIT", 0)
    item = SiteScheme("s", fastmm.verified(fastmm.strassen(), sympy=False), "file", "s.json", "exact")
    facts = scheme_facts(item)
    assert facts.cse_additions is None
    numpy_code = next(d for d in facts.downloads if d.kind == "NumPy")
    assert numpy_code.text == fastmm.export(fastmm.verified(fastmm.strassen(), sympy=False), to="numpy",
                                            cse=False)

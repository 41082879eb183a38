"""QA 28: the catalogue folder and its entries. Only regular files are read (a FIFO never hangs
`fastmm catalog`, /dev/zero never fills memory), every entry left out is one warning line (a
dangling or looping symlink, a name not in canonical order), and a FASTMM_CATALOG that is not a
folder is one error line, exit 2, before any work: for every command that reads the catalogue
(`catalog`, `show`, `search`, `site`) and for `fastmm finish --catalog`, which makes a missing
folder but never a missing parent folder."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import fastmm
from fastmm.catalog import (
    add_to_catalog,
    catalog_candidates,
    scan_catalog,
)
from fastmm.errors import InputError
from fastmm.io import dumps
from fastmm.reference import laderman, strassen

STRASSEN = "2x2x2-rank7-ZT.json"


def run(*args: str, catalog: Path | str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`fastmm ARGS` with FASTMM_CATALOG set, in a process of its own: at most 2 GiB of address
    space (reading /dev/zero whole fails instead of filling the machine) and 60 s (a FIFO that
    blocks fails instead of hanging the tests)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    env = dict(os.environ, FASTMM_CATALOG=str(catalog))
    return subprocess.run([sys.executable, "-m", "fastmm", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60, preexec_fn=limit)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A catalogue of one verified entry, Strassen's."""
    d = tmp_path / "catalog"
    d.mkdir()
    (d / STRASSEN).write_text(dumps(fastmm.verified(strassen(), sympy=False)))
    return d


def _row(stdout: str, shape: str) -> list[str]:
    return next(x for x in stdout.splitlines() if x.startswith(shape)).split()


# -- 1. entries that are not regular files are never opened ---------------------------------------


def test_a_fifo_entry_is_skipped_with_one_warning_and_the_command_finishes(folder):
    os.mkfifo(folder / "2x2x3-rank11-ZT.json")
    r = run("catalog", catalog=folder)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ["warning: catalogue entry skipped: 2x2x3-rank11-ZT.json: "
                                     "is a FIFO, not a regular file"]
    assert _row(r.stdout, "2×2×2")[5:7] == ["7", "ZT"]
    assert _row(r.stdout, "2×2×3")[5:8] == ["—", "—", "missing"]


def test_an_entry_linked_to_dev_zero_is_skipped_without_reading_it(folder):
    (folder / "2x2x3-rank11-ZT.json").symlink_to("/dev/zero")
    r = run("catalog", "--json", catalog=folder)
    assert r.returncode == 0, r.stderr
    line = "catalogue entry skipped: 2x2x3-rank11-ZT.json: is a device, not a regular file"
    assert r.stderr.splitlines() == [f"warning: {line}"]
    assert json.loads(r.stdout)["skipped"] == [line]


def test_the_fingerprint_does_not_open_a_fifo_or_a_device(folder):
    def fingerprint() -> str:
        r = run("catalog", "--json", catalog=folder)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["fingerprint"]

    alone = fingerprint()
    os.mkfifo(folder / "2x2x3-rank11-ZT.json")
    (folder / "2x2x4-rank14-ZT.json").symlink_to("/dev/zero")
    with_specials = fingerprint()  # no blocking open, no endless read
    assert len(with_specials) == 16 and with_specials != alone
    assert fingerprint() == with_specials


# -- 2. every entry left out is one warning line --------------------------------------------------


def test_dangling_and_looping_links_are_each_one_warning(folder):
    (folder / "2x3x3-rank15-ZT.json").symlink_to(folder / "gone.json")
    (folder / "3x3x3-rank23-ZT.json").symlink_to(folder / "3x3x3-rank23-ZT.json")
    entries, problems = scan_catalog(folder)
    assert [e.path.name for e in entries] == [STRASSEN]
    assert problems == ["catalogue entry skipped: 2x3x3-rank15-ZT.json: a symbolic link to a missing file",
                        "catalogue entry skipped: 3x3x3-rank23-ZT.json: a symbolic link loop"]
    r = run("catalog", catalog=folder)
    assert r.returncode == 0 and r.stderr.splitlines() == [f"warning: {p}" for p in problems]


def test_a_verified_entry_named_out_of_canonical_order_is_one_warning(tmp_path):
    d = tmp_path / "catalog"
    d.mkdir()
    scheme = fastmm.combine("sum", strassen(), fastmm.naive_scheme(1, 2, 2), axis="n", sympy=False)
    assert scheme.label() == "⟨3,2,2;11⟩"
    (d / "3x2x2-rank11-ZT.json").write_text(dumps(scheme))
    entries, problems = scan_catalog(d)
    assert entries == []
    assert problems == ["catalogue entry skipped: 3x2x2-rank11-ZT.json: the shape is not in canonical "
                        "order n ≤ m ≤ p (entries are stored permuted to it, as 2x2x3-rank11-ZT.json)"]
    r = run("catalog", catalog=d)
    assert r.returncode == 0 and r.stderr.splitlines() == [f"warning: {problems[0]}"]


# -- 2. a FASTMM_CATALOG that is not a folder -----------------------------------------------------


def test_the_catalog_command_refuses_a_missing_folder_in_one_line(tmp_path):
    missing = tmp_path / "typo"
    r = run("catalog", catalog=missing)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"error: the catalogue folder {missing} (FASTMM_CATALOG) does not exist\n"
    assert not missing.exists()


def test_the_catalog_command_refuses_a_file_in_one_line(tmp_path):
    path = tmp_path / "s7.json"
    path.write_text(dumps(strassen()))
    r = run("catalog", "--json", catalog=path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"error: the catalogue folder {path} (FASTMM_CATALOG) is not a folder\n"


def test_the_api_refuses_a_missing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMM_CATALOG", str(tmp_path / "typo"))
    with pytest.raises(InputError, match=r"^the catalogue folder .*typo \(FASTMM_CATALOG\) does not exist$"):
        fastmm.catalog()


# one rule for every command that reads the catalogue: `catalog` refused a missing folder, while
# `show` and `search` warned and went on, and `site` named neither the variable nor the rule


@pytest.mark.parametrize("args", [
    ("catalog",),
    ("show", "s7.json"),
    ("search", "2", "2", "2", "--rank", "7", "-q", "-o", "o.json"),
    ("search", "2", "2", "3", "--rank", "11", "--method", "pool", "-q", "-o", "o.json", "--resume", "ck"),
    ("site", "out"),
])
def test_every_command_that_reads_the_catalogue_refuses_a_missing_folder_alike(tmp_path, args):
    (tmp_path / "s7.json").write_text(dumps(strassen()))
    missing = tmp_path / "typo"
    r = run(*args, catalog=missing, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"error: the catalogue folder {missing} (FASTMM_CATALOG) does not exist\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s7.json"]  # nothing made or written


def test_the_library_refuses_a_missing_folder_wherever_it_reads_the_catalogue(tmp_path, monkeypatch):
    missing = tmp_path / "typo"
    monkeypatch.setenv("FASTMM_CATALOG", str(missing))
    message = rf"^the catalogue folder {missing} \(FASTMM_CATALOG\) does not exist$"
    for call in (lambda: catalog_candidates((2, 2, 2), "ZT"), lambda: fastmm.catalog_scheme((2, 2, 2)),
                 lambda: fastmm.search((2, 2, 2), 7, time_limit=5), lambda: scan_catalog()):
        with pytest.raises(InputError, match=message):
            call()
    assert scan_catalog(missing) == ([], [])  # a folder the caller names holds nothing
    assert list(tmp_path.iterdir()) == []


def test_a_catalogue_is_made_for_what_adds_to_it_but_never_its_missing_parent(tmp_path, monkeypatch):
    # add_to_catalog made every missing folder on the way (mkdir -p): a typo became a tree
    deep = tmp_path / "typo" / "catalog"
    with pytest.raises(InputError) as err:
        add_to_catalog(strassen(), deep)
    assert str(err.value) == (f"the catalogue folder {deep} does not exist and cannot be made: "
                              f"directory {deep.parent} does not exist")
    monkeypatch.setenv("FASTMM_CATALOG", str(deep))
    with pytest.raises(InputError, match=r"\(FASTMM_CATALOG\) does not exist and cannot be made"):
        add_to_catalog(strassen())
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("FASTMM_CATALOG", str(tmp_path / "catalog"))
    assert add_to_catalog(strassen())
    assert [p.name for p in (tmp_path / "catalog").iterdir()] == [STRASSEN]


def test_finish_refuses_a_catalogue_whose_parent_is_missing_before_any_work(tmp_path):
    s = strassen()
    points = tmp_path / "good.json"
    points.write_text(json.dumps({"shape": [2, 2, 2], "rank": 7, "points": [
        {"Wa": s.Wa.astype(float).tolist(), "Wb": s.Wb.astype(float).tolist(),
         "WcT": s.Wc.T.astype(float).tolist()}]}))
    deep = tmp_path / "typo" / "catalog"
    out = tmp_path / "ff.json"
    r = run("finish", str(points), "-q", "--catalog", "--no-sympy", "-o", str(out), catalog=deep)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"error: the catalogue folder {deep} (FASTMM_CATALOG) does not exist and cannot "
                        f"be made: directory {deep.parent} does not exist\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json"]


# -- 3. adding to a catalogue that is not a folder ------------------------------------------------


def test_add_to_a_file_is_one_input_error_and_leaves_it_alone(tmp_path):
    path = tmp_path / "s7.json"
    path.write_text("keep")
    with pytest.raises(InputError, match=r"^the catalogue folder .*s7\.json is not a folder$"):
        add_to_catalog(laderman(), path)
    assert path.read_text() == "keep"


def test_finish_refuses_a_catalogue_file_before_any_work(tmp_path):
    s = strassen()
    points = tmp_path / "good.json"
    points.write_text(json.dumps({"shape": [2, 2, 2], "rank": 7, "points": [
        {"Wa": s.Wa.astype(float).tolist(), "Wb": s.Wb.astype(float).tolist(),
         "WcT": s.Wc.T.astype(float).tolist()}]}))
    catalogue = tmp_path / "s7.json"
    catalogue.write_text("keep")
    out = tmp_path / "ff3.json"
    r = run("finish", str(points), "-q", "--catalog", "--no-sympy", "-o", str(out), catalog=catalogue)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"error: the catalogue folder {catalogue} (FASTMM_CATALOG) is not a folder\n"
    assert not out.exists() and catalogue.read_text() == "keep"
    # the same request with a folder of its own: found, written and added
    fresh = tmp_path / "new-catalogue"
    r = run("finish", str(points), "-q", "--catalog", "--no-sympy", "-o", str(out), catalog=fresh)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "added to the catalogue"
    assert sorted(p.name for p in fresh.iterdir()) == [STRASSEN]


# -- round 2: names spelled only as entry_filename spells them; warnings one escaped line each --


def test_names_with_leading_zeros_or_other_digits_are_skipped_with_a_warning(tmp_path):
    cat = tmp_path / "c"
    cat.mkdir()
    body = dumps(fastmm.verified(strassen(), sympy=False))
    for name in (STRASSEN, "02x2x2-rank7-ZT.json", "2x2x2-rank007-ZT.json", "\u0662x2x2-rank7-ZT.json"):
        (cat / name).write_text(body)
    entries, problems = scan_catalog(cat)
    assert [e.path.name for e in entries] == [STRASSEN]
    assert len(problems) == 3 and all("name is not" in p for p in problems)


def test_catalog_warnings_are_one_escaped_line_each(tmp_path):
    cat = tmp_path / "c"
    cat.mkdir()
    (cat / STRASSEN).write_text(dumps(fastmm.verified(strassen(), sympy=False)))
    (cat / "x\nerror: forged.json").write_text("{}")
    r = run("catalog", catalog=cat)
    assert r.returncode == 0
    assert r.stderr == ("warning: catalogue entry skipped: x\\nerror: forged.json: name is not "
                        "<n>x<m>x<p>-rank<r>-<ring>.json\n")


def test_a_search_prints_a_catalogue_warning_once_as_one_line(tmp_path):
    cat = tmp_path / "c"
    cat.mkdir()
    (cat / "2x3x3-rank15-ZT.json").symlink_to(tmp_path / "missing.json")
    r = run("search", "2", "3", "3", "--rank", "15", "--no-sympy", "--quiet", "-o", str(tmp_path / "o.json"),
            catalog=cat)
    assert r.returncode == 0, r.stderr
    warned = [line for line in r.stderr.splitlines() if "catalogue" in line]
    assert warned == ["warning: catalogue entry skipped: 2x3x3-rank15-ZT.json: "
                      "a symbolic link to a missing file"]


def test_numpy_booleans_are_taken_as_python_booleans_are():
    import numpy as np

    s = strassen()
    for one in (True, np.True_):
        wa = np.array(s.Wa, dtype=object)
        wa[0, 0] = one
        assert fastmm.Scheme(2, 2, 2, wa, s.Wb, s.Wc).Wa[0, 0] == 1

"""The shipped catalogue: verified entries, tamper handling, improvement-only writes, the command."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fastmm import catalog as cat
from fastmm.catalog import (
    CatalogWarning,
    add_to_catalog,
    best_catalog_rank,
    catalog_entries,
    catalog_table,
    entry_filename,
    load_catalog_scheme,
)
from fastmm.errors import VerificationError
from fastmm.io import dumps as dumps_scheme
from fastmm.io import load_scheme
from fastmm.known_ranks import BEST_KNOWN
from fastmm.reference import laderman, strassen
from fastmm.scheme import naive_scheme
from fastmm.verify import verify

SHIPPED = Path(__file__).resolve().parents[1] / "fastmm" / "data" / "catalog"


@pytest.fixture
def tmp_catalog(tmp_path, monkeypatch):
    d = tmp_path / "catalog"
    d.mkdir()
    monkeypatch.setenv("FASTMM_CATALOG", str(d))
    return d


# -- the shipped catalogue ----------------------------------------------------------------

def test_shipped_entries_all_verify_and_cover_the_table(monkeypatch):
    monkeypatch.delenv("FASTMM_CATALOG", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CatalogWarning)  # a skipped shipped file fails the test
        entries = catalog_entries()
    shapes = {e.shape for e in entries}
    assert {s for s in BEST_KNOWN if max(s) <= 6} <= shapes
    for e in entries:
        s = load_scheme(e.path)
        assert verify(s, use_sympy=False).ok
        assert s.shape == e.shape == tuple(sorted(e.shape))
        prov = s.provenance
        # how it was made: a method, or the best verified scheme a search reached (its command)
        assert prov.get("method") in {"algebra", "flip", "pool", "spn", "symmetric", "ternary", "als",
                                      "best-so-far", "finish", "gf2-low"}
        if prov["method"] in ("best-so-far", "gf2-low"):  # gf2-low: a GF(2) low that did not lift
            assert prov["method"] == "best-so-far" or s.ring == "Z2"
            assert prov["command"].startswith("fastmm search ")
        if prov["method"] == "finish":  # exact from fitted points, which a fastmm search made
            assert prov["command"].startswith("fastmm finish ")
            fit = prov["fitted_by"]
            assert "fastmm search " in fit or "benchmarks/numerical_search.py" in fit
    assert best_catalog_rank((2, 2, 2)) == 7
    assert best_catalog_rank((3, 3, 3)) == 23
    assert best_catalog_rank((4, 4, 4)) == 49


def test_load_serves_any_permutation_of_the_shape(monkeypatch):
    monkeypatch.delenv("FASTMM_CATALOG", raising=False)
    s = load_catalog_scheme((3, 2, 2))
    assert s is not None and s.shape == (3, 2, 2) and s.rank == 11
    assert verify(s, use_sympy=False).ok


def test_load_over_z2_reduces_an_integer_entry(monkeypatch):
    monkeypatch.delenv("FASTMM_CATALOG", raising=False)
    s = load_catalog_scheme((2, 2, 2), ring="Z2")
    assert s.ring == "Z2" and s.rank == 7
    assert verify(s, use_sympy=False).ok


# -- a private catalogue ------------------------------------------------------------------

def test_add_keeps_only_improvements(tmp_catalog):
    naive = naive_scheme(2, 2, 2)
    assert add_to_catalog(naive) is True
    assert best_catalog_rank((2, 2, 2)) == 8
    assert add_to_catalog(naive) is False  # not better than itself
    assert add_to_catalog(strassen()) is True
    assert best_catalog_rank((2, 2, 2)) == 7
    assert sorted(p.name for p in tmp_catalog.iterdir()) == [entry_filename((2, 2, 2), 7, "ZT")]
    assert add_to_catalog(naive) is False
    assert best_catalog_rank((2, 2, 2)) == 7


def test_add_goes_on_where_the_file_system_has_no_locks(tmp_catalog, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)  # an NFS mount without lockd
    assert add_to_catalog(strassen()) is True
    assert best_catalog_rank((2, 2, 2)) == 7


def test_add_stores_the_canonical_shape(tmp_catalog):
    s = strassen().direct_sum(naive_scheme(2, 2, 1), "p").transpose()  # ⟨3,2,2⟩
    assert add_to_catalog(s)
    stored = load_scheme(tmp_catalog / "2x2x3-rank11-ZT.json")
    assert stored.shape == (2, 2, 3)
    assert stored.verified and stored.verified["ok"]


def test_add_z2_beside_integer_entry_but_not_dominated_ones(tmp_catalog):
    assert add_to_catalog(strassen())
    assert not add_to_catalog(strassen().with_meta(ring="Z2"))  # ZT rank 7 already serves Z2
    assert add_to_catalog(naive_scheme(2, 2, 3))
    big = strassen().direct_sum(naive_scheme(2, 2, 1), "p").with_meta(ring="Z2")
    assert add_to_catalog(big)  # Z2 rank 11 < ZT rank 12: stored beside it
    assert best_catalog_rank((2, 2, 3), "Z2") == 11
    assert best_catalog_rank((2, 2, 3), "ZT") == 12
    assert load_catalog_scheme((2, 2, 3), "ZT").rank == 12


def test_add_refuses_invalid_schemes(tmp_catalog):
    s = strassen()
    wc = s.Wc.copy()
    wc[0, 0] = 0
    bad = s.with_meta(Wc=wc)
    with pytest.raises(VerificationError):
        add_to_catalog(bad)
    assert list(tmp_catalog.iterdir()) == []


def test_add_writes_atomically(tmp_catalog, monkeypatch):
    # If the write dies half-way, the old entry is untouched and no partial file is left.
    assert add_to_catalog(naive_scheme(2, 2, 2))
    before = {p.name: p.read_bytes() for p in tmp_catalog.iterdir()}

    import os

    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        add_to_catalog(strassen())
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in tmp_catalog.iterdir()}
    assert after == before


def test_tampered_entry_is_reported_and_skipped(tmp_catalog):
    shutil.copy(SHIPPED / "2x2x2-rank7-ZT.json", tmp_catalog)
    shutil.copy(SHIPPED / "3x3x3-rank23-ZT.json", tmp_catalog)
    path = tmp_catalog / "2x2x2-rank7-ZT.json"
    data = json.loads(path.read_text())
    data["Wc"][0][0] = 1 - data["Wc"][0][0]  # one flipped coefficient
    path.write_text(json.dumps(data))
    with pytest.warns(CatalogWarning, match="2x2x2-rank7-ZT.json: fails verification"):
        entries = catalog_entries()
    assert [e.shape for e in entries] == [(3, 3, 3)]
    with pytest.warns(CatalogWarning):
        assert load_catalog_scheme((2, 2, 2)) is None
    with pytest.warns(CatalogWarning):
        assert best_catalog_rank((2, 2, 2)) is None


def test_mislabelled_entry_is_skipped(tmp_catalog):
    shutil.copy(SHIPPED / "2x2x2-rank7-ZT.json", tmp_catalog / "2x2x2-rank6-ZT.json")
    (tmp_catalog / "notes.json").write_text("{}")
    entries, problems = cat.scan_catalog()
    assert entries == []
    assert any("not what the file name says" in p for p in problems)
    assert any("notes.json" in p for p in problems)


def test_exclude_shapes_hides_entries(tmp_catalog):
    add_to_catalog(strassen())
    add_to_catalog(laderman())
    assert load_catalog_scheme((2, 2, 2), exclude_shapes=[(2, 2, 2)]) is None
    assert load_catalog_scheme((3, 3, 3), exclude_shapes=[(2, 2, 2)]).rank == 23
    s = strassen().direct_sum(naive_scheme(2, 2, 1), "p")
    add_to_catalog(s)
    assert load_catalog_scheme((3, 2, 2), exclude_shapes=[(2, 3, 2)]) is None


def test_catalog_table_statuses(tmp_catalog):
    add_to_catalog(strassen())
    add_to_catalog(naive_scheme(2, 2, 3))
    rows = {tuple(r["shape"]): r for r in catalog_table()[0]}
    assert rows[(2, 2, 2)]["status"] == "best known reached"
    assert rows[(2, 2, 3)]["status"] == "gap" and rows[(2, 2, 3)]["gap"] == 1
    assert rows[(3, 3, 3)]["status"] == "missing"
    assert rows[(6, 6, 6)]["naive"] == 216


def test_find_in_catalog_names_the_equivalent_entry(tmp_catalog):
    from fastmm.equivalence import random_transform

    add_to_catalog(strassen())
    copy = random_transform(strassen(), np.random.default_rng(0))
    entry, res = cat.find_in_catalog(copy)
    assert entry.shape == (2, 2, 2) and res.status == "equivalent"


@pytest.mark.parametrize("shape", [(4, 3, 2), (3, 2, 4), (2, 4, 3)])
def test_the_transform_found_for_a_permuted_shape_acts_on_the_named_file(shape, monkeypatch):
    # it was found against the entry permuted to the scheme's shape, then shown beside the file
    # itself: "shape move: none" and a P of the wrong size
    monkeypatch.delenv("FASTMM_CATALOG", raising=False)
    stored = load_scheme(cat.catalog_candidates((2, 3, 4), "ZT")[0].path)
    permuted = stored.permuted(shape).with_meta(ring="ZT")
    entry, res = cat.find_in_catalog(permuted)
    assert res.status == "equivalent" and "shape move: none" not in res.transform.describe()
    moved = res.transform.apply(load_scheme(entry.path))
    assert moved.shape == shape
    for got, want in ((moved.Wa, permuted.Wa), (moved.Wb, permuted.Wb), (moved.Wc, permuted.Wc)):
        assert np.array_equal(np.asarray(got), np.asarray(want))


# -- the command --------------------------------------------------------------------------

def test_catalog_command_lists_222_rank7(monkeypatch):
    from fastmm.cli import cli

    monkeypatch.delenv("FASTMM_CATALOG", raising=False)
    result = CliRunner().invoke(cli, ["catalog"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("2×2×2"))
    assert line.split() == ["2×2×2", "8", "7", "7", "7", "7", "ZT", "best", "known", "reached", "ZT:7"]
    line = next(x for x in result.output.splitlines() if x.startswith("4×4×4"))
    assert line.split()[:5] == ["4×4×4", "64", "49", "48", "47"] and line.endswith("ZT:49 Z2:47")
    assert "shapes at the best-known rank" in result.output
    # a Z2 or Q entry at its ring's record counts for the first figure, only ZT ones for the second
    import re

    from fastmm.catalog import catalog_table

    rows, _ = catalog_table()
    ternary = sum(r["by_ring"].get("ZT", 10**6) <= r["best_ZT"] for r in rows)
    assert re.search(rf"\({ternary} at the best-known ZT rank\)", result.output)
    assert ternary < sum(r["status"] == "best known reached" for r in rows)  # ⟨3,4,5⟩: Z2 47, ZT 48


def test_catalog_command_json_and_tampered_warning(tmp_catalog):
    from fastmm.cli import cli

    shutil.copy(SHIPPED / "2x2x2-rank7-ZT.json", tmp_catalog)
    shutil.copy(SHIPPED / "2x2x2-rank7-ZT.json", tmp_catalog / "2x2x3-rank11-ZT.json")
    result = CliRunner().invoke(cli, ["catalog", "--json"])
    assert result.exit_code == 0
    out = result.stdout if hasattr(result, "stdout") else result.output
    data = json.loads(out[out.index("{"):])
    row = next(r for r in data["rows"] if r["shape"] == [2, 2, 2])
    assert row["catalog_rank"] == 7 and row["status"] == "best known reached"
    assert any("2x2x3-rank11-ZT.json" in p for p in data["skipped"])


def test_fingerprint_follows_every_byte_and_name_of_the_catalogue(tmp_catalog):
    from fastmm.catalog import catalog_fingerprint
    from fastmm.cli import cli

    empty = catalog_fingerprint()
    shutil.copy(SHIPPED / "2x2x2-rank7-ZT.json", tmp_catalog)
    one = catalog_fingerprint()
    assert one != empty and len(one) == 16
    out = CliRunner().invoke(cli, ["catalog", "--json"]).output
    assert json.loads(out[out.index("{"):])["fingerprint"] == one
    path = tmp_catalog / "2x2x2-rank7-ZT.json"
    path.write_text(path.read_text() + " ")  # same scheme, other bytes
    assert catalog_fingerprint() not in (empty, one)


def test_catalog_scheme_carries_the_record_of_its_own_check_not_the_files(tmp_path, monkeypatch):
    folder = tmp_path / "cat"
    folder.mkdir()
    data = json.loads(dumps_scheme(strassen()))
    data["verified"] = {"brent": "FORGED", "ok": True, "ring": "Q", "at": "1999"}
    (folder / "2x2x2-rank7-ZT.json").write_text(json.dumps(data))
    monkeypatch.setenv("FASTMM_CATALOG", str(folder))
    import fastmm

    record = fastmm.catalog_scheme((2, 2, 2)).verified
    assert record["brent"] == "exact integer Brent equations" and record["ring"] == "ZT"


def test_a_catalogued_shape_without_a_tabulated_record_is_listed(tmp_path, monkeypatch):
    # ⟨1,2,2⟩ was left out of `fastmm catalog` without a word, while catalog_scheme and the
    # site used it
    from fastmm.cli import cli

    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "1x2x2-rank4-ZT.json").write_text(dumps_scheme(naive_scheme(1, 2, 2)))
    (folder / "2x2x2-rank7-ZT.json").write_text(dumps_scheme(strassen()))
    monkeypatch.setenv("FASTMM_CATALOG", str(folder))
    rows, problems = cat.catalog_table()
    row = next(r for r in rows if r["shape"] == [1, 2, 2])
    assert problems == [] and row["status"] == "no record tabulated" and row["best_ZT"] is None
    assert row["catalog_rank"] == 4 and row["by_ring"] == {"ZT": 4}
    result = CliRunner().invoke(cli, ["catalog"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("1×2×2"))
    assert line.split() == ["1×2×2", "4", "—", "—", "—", "4", "ZT", "no", "record", "tabulated", "ZT:4"]
    assert result.output.splitlines()[-1].startswith("1 of 35 shapes at the best-known rank")
    assert "1 more catalogued (above 6 or without a tabulated record)" in result.output
    # a catalogued shape above 6 is listed too (the table's summary still counts the 35)
    sums = folder / "2x2x7-rank25-ZT.json"
    import fastmm

    monkeypatch.delenv("FASTMM_CATALOG")
    parts = [fastmm.catalog_scheme((2, 2, k)) for k in (3, 4)]
    monkeypatch.setenv("FASTMM_CATALOG", str(folder))
    sums.write_text(dumps_scheme(parts[0].direct_sum(parts[1], "p")))
    result = CliRunner().invoke(cli, ["catalog"])
    assert any(x.startswith("2×2×7  28") for x in result.output.splitlines()), result.output
    assert "2 more catalogued" in result.output.splitlines()[-1]

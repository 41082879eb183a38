"""`build_site` on the shipped catalogue: every page, link and download is there and sound."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from fastmm.catalog import catalog_dir
from fastmm.errors import InputError
from fastmm.io import load_scheme
from fastmm.site import build_site
from fastmm.verify import verify
from tests.export.schemes import dead_product_schemes
from tests.site.conftest import parse_page, small_catalog

XHTML = "{http://www.w3.org/1999/xhtml}"


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_every_catalogue_scheme_has_a_page_and_downloads(shipped_site):
    site, report, entries = shipped_site
    assert report.schemes == len(entries) and report.warnings == []
    for e in entries:
        slug = e.path.stem
        assert (site / "schemes" / f"{slug}.html").is_file()
        assert (site / "files" / f"{slug}.json").is_file()
        if e.ring != "Z2":  # floating-point code is wrong for a scheme valid modulo 2 only
            for suffix in (".c", "-numpy.py", "-torch.py"):
                assert (site / "files" / f"{slug}{suffix}").is_file()
        else:
            assert not (site / "files" / f"{slug}.c").exists()


def test_every_page_is_well_formed_xml_and_balanced_html(shipped_site):
    site, _, _ = shipped_site
    for page in _pages(site):
        root = ET.parse(page).getroot()  # raises on anything not well-formed
        assert root.tag == f"{XHTML}html"
        assert parse_page(page).errors == [], page.name


def test_every_link_resolves_to_an_existing_file_and_id(shipped_site):
    site, _, _ = shipped_site
    checked = 0
    for page in _pages(site):
        for link in parse_page(page).links:
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc and not link.startswith("/"), \
                f"{page.name}: {link} is not a relative link (the site must work offline)"
            target = (page.parent / parts.path).resolve() if parts.path else page
            assert target.is_file(), f"{page.name}: {link} does not exist"
            assert site.resolve() in target.parents, f"{page.name}: {link} leaves the site"
            if parts.fragment:
                assert parts.fragment in parse_page(target).ids
            checked += 1
    assert checked >= 140 + 2 * 36 + 36 * 4  # index rows, plot points, list; per page: css, js, back, json


def test_every_downloaded_scheme_verifies_and_matches_its_page(shipped_site):
    site, _, entries = shipped_site
    downloads = sorted((site / "files").glob("*.json"))
    assert len(downloads) == len(entries)
    for path in downloads:
        scheme = load_scheme(path)
        verdict = verify(scheme, use_sympy=False)
        assert verdict.ok and verdict.ring == scheme.ring, path.name
        title = ET.parse(site / "schemes" / f"{path.stem}.html").getroot().find(f"{XHTML}head/{XHTML}title")
        assert title.text.startswith(f"{scheme.label()} over {scheme.ring}")


def test_downloaded_numpy_code_multiplies_correctly(shipped_site):
    site, _, _ = shipped_site
    spec = importlib.util.spec_from_file_location("strassen_site", site / "files" / "2x2x2-rank7-ZT-numpy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((2, 8, 12)), rng.standard_normal((2, 12, 6))
    assert np.allclose(module.matmul(A, B, levels=2, leaf=1), A @ B)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_downloaded_c_code_compiles(shipped_site):
    site, _, _ = shipped_site
    run = subprocess.run(["cc", "-fsyntax-only", "-Wall", str(site / "files" / "2x2x2-rank7-ZT.c")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_index_has_a_row_per_shape_and_ring_with_status(shipped_site):
    site, _, _ = shipped_site
    root = ET.parse(site / "index.html").getroot()
    rows = root.findall(f".//{XHTML}table[@id='ranks']/{XHTML}tbody/{XHTML}tr")
    assert len(rows) == 35 * 4  # every n ≤ m ≤ p ≤ 6, over ZT, Z, Q and Z2
    by_key = {(r.get("data-shape"), r.get("data-ring")): ["".join(td.itertext()) for td in r] for r in rows}
    assert by_key[("2x2x2", "ZT")] == ["⟨2,2,2⟩", "ZT", "7", "7", "Strassen 1969", "8", "at record"]
    assert by_key[("4x4x4", "Z2")][2:4] == ["47", "47"]  # the mod-2 scheme serves Z2 only
    assert by_key[("4x4x4", "ZT")][2:4] == ["49", "49"]
    assert by_key[("6x6x6", "ZT")][2:4] + by_key[("6x6x6", "ZT")][6:] == ["161", "153", "behind by 8"]
    assert by_key[("3x3x6", "ZT")][2:4] == ["43", "42"]
    assert by_key[("3x3x6", "Z")][2:4] == ["43", "42"]  # a ZT scheme serves Z as well
    svg = root.find(f".//{XHTML}figure/{{http://www.w3.org/2000/svg}}svg")
    shipped = len(list(catalog_dir().glob("*.json")))  # one point (and link) per catalogue scheme
    assert svg is not None and len(svg.findall(".//{http://www.w3.org/2000/svg}a")) == shipped


def test_scheme_page_shows_formulas_costs_and_provenance(shipped_site):
    site, _, _ = shipped_site
    text = "".join(parse_page(site / "schemes" / "2x2x2-rank7-ZT.html").text)
    for expected in ("M1 = (A11 + A22)·(B11 + B22)", "C22 = M1 − M2 + M3 + M6", "18 plain, 18 with shared",
                     "stability factor E12", "6×(1,1,1) + 1×(2,2,2)", "exact integer Brent equations",
                     "strassen", "7 over ZT (Strassen 1969) — this scheme is at record",
                     "equivalent to Winograd 1971 (Strassen–Winograd form) ⟨2,2,2;7⟩",
                     "yes modulo 2 (1 cube + 2 orbits of 3; with X -> JXJ: 1 orbit of 6)"):
        assert expected in text
    sym = {slug: "".join(parse_page(site / "schemes" / f"{slug}.html").text)
           for slug in ("5x5x5-rank93-ZT", "3x3x3-rank23-ZT", "2x3x3-rank15-ZT")}
    assert "C3 symmetry (A,B,Cᵀ) → (Cᵀ,A,B)yes modulo 2 (3 cubes + 30 orbits of 3)" in sym["5x5x5-rank93-ZT"]
    assert "C3 symmetry (A,B,Cᵀ) → (Cᵀ,A,B)no" in sym["3x3x3-rank23-ZT"]  # Laderman's form
    assert "C3 symmetry" not in sym["2x3x3-rank15-ZT"]
    assert "transpose symmetry (A,B,C) → (Bᵀ,Aᵀ,Cᵀ)no" in sym["2x3x3-rank15-ZT"]
    assert "transpose symmetry (A,B,C) → (Bᵀ,Aᵀ,Cᵀ)yes modulo 2 (3 fixed + 2 pairs)" in text  # Strassen
    z2 = "".join(parse_page(site / "schemes" / "4x4x4-rank47-Z2.html").text)
    assert "valid modulo 2 only" in z2 and "C: not available" in z2


def test_equivalence_between_schemes_of_one_shape_and_rank(tmp_path):
    cat = small_catalog(tmp_path / "cat")
    extra = tmp_path / "extra.json"
    shutil.copy(cat / "2x2x2-rank7-ZT.json", extra)
    build_site(tmp_path / "site", catalog=cat, schemes=[extra])
    text = "".join(parse_page(tmp_path / "site" / "schemes" / "extra.html").text)
    assert "equivalent to ⟨2,2,2;7⟩ over ZT, 2x2x2-rank7-ZT: explicit transform" in text
    assert "equivalent to Strassen 1969 ⟨2,2,2;7⟩ (fastmm's reference copy)" in text
    laderman_page = "".join(parse_page(tmp_path / "site" / "schemes" / "3x3x3-rank23-ZT.html").text)
    assert "equivalent to Laderman 1976 ⟨3,3,3;23⟩" in laderman_page


def test_same_input_gives_the_same_bytes_with_any_number_of_workers(tmp_path):
    cat = small_catalog(tmp_path / "cat", ("4x4x4-rank47-Z2.json", "2x3x4-rank20-ZT.json"))
    build_site(tmp_path / "a", catalog=cat, workers=1)
    build_site(tmp_path / "b", catalog=cat, workers=2)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 10
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_rebuild_replaces_an_earlier_site_and_drops_stale_pages(tmp_path):
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "site"
    build_site(out, catalog=cat)
    (cat / "3x3x3-rank23-ZT.json").unlink()
    build_site(out, catalog=cat)
    assert not (out / "schemes" / "3x3x3-rank23-ZT.html").exists()
    assert (out / "schemes" / "2x2x2-rank7-ZT.html").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_refuses_to_replace_a_folder_it_did_not_make(tmp_path):
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not made by `fastmm site`"):
        build_site(out, catalog=cat)
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat", "mine"]


def test_missing_catalogue_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        build_site(tmp_path / "site", catalog=tmp_path / "nowhere")


def test_shapes_without_a_scheme_are_listed_as_missing(tmp_path):
    build_site(tmp_path / "site", catalog=small_catalog(tmp_path / "cat"))
    root = ET.parse(tmp_path / "site" / "index.html").getroot()
    rows = root.findall(f".//{XHTML}table[@id='ranks']/{XHTML}tbody/{XHTML}tr")
    assert len(rows) == 35 * 4
    missing = [r for r in rows if r.get("data-status") == "missing"]
    assert len(missing) == 33 * 4  # only ⟨2,2,2⟩ and ⟨3,3,3⟩ have schemes
    cells = ["".join(td.itertext()) for td in missing[0]]
    assert cells == ["⟨2,2,3⟩", "ZT", "—", "11", cells[4], "12", "missing"]
    assert missing[0].find(f".//{XHTML}a") is None


def test_schemes_with_a_dead_product_get_every_download(tmp_path):
    """A valid scheme with a product that contributes nothing (zero operand, or no use in C) gets
    its C, NumPy and PyTorch code like any other, and the code multiplies correctly."""
    from fastmm.io import save_scheme

    files = []
    for name, scheme in sorted(dead_product_schemes().items()):
        files.append(tmp_path / f"{name}.json")
        save_scheme(scheme, files[-1])
    report = build_site(tmp_path / "site", catalog=small_catalog(tmp_path / "cat"), schemes=files)
    assert report.schemes == 2 + len(files) and report.warnings == []
    rng = np.random.default_rng(3)
    for f in files:
        slug = f.stem
        page = (tmp_path / "site" / "schemes" / f"{slug}.html").read_text()
        assert "not available" not in page
        for suffix in (".c", "-numpy.py", "-torch.py"):
            assert (tmp_path / "site" / "files" / f"{slug}{suffix}").is_file()
            assert f'href="../files/{slug}{suffix}"' in page
        spec = importlib.util.spec_from_file_location(f"site_{slug}", tmp_path / "site" / "files" /
                                                      f"{slug}-numpy.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        A, B = rng.integers(-9, 10, (9, 13)), rng.integers(-9, 10, (13, 10))
        assert np.array_equal(module.matmul(A, B, levels=2, leaf=1), A @ B), f.name
    # the equivalence search assumes nonzero factors: such pairs are "unknown", never a crash
    page = (tmp_path / "site" / "schemes" / "zero_left.html").read_text()
    assert "unknown" in page and "a product with an all-zero factor (it contributes nothing)" in page


def test_refuses_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="holds the current folder"):
        build_site(".", catalog=small_catalog(tmp_path / "cat"))

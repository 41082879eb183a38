"""The index's plot and its caption: the caption says which schemes are points and how they are
drawn, with the plot's own count (QA counted 36 circles for 39 schemes: the three modulo-2
schemes were filled squares that nearly hid the ternary circles of their shapes)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from fastmm.site import build_site
from tests.site.conftest import small_catalog

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def _figure(site):
    root = ET.parse(site / "index.html").getroot()
    figure = next(root.iter(f"{XHTML}figure"))
    svg = figure.find(f"{SVG}svg")
    points = [(a.get("href"), mark.tag.removeprefix(SVG), mark.get("class"))
              for a in svg.iter(f"{SVG}a") for mark in a if mark.tag != f"{SVG}title"]
    caption = "".join(figure.find(f"{XHTML}figcaption").itertext())
    return points, caption


def test_every_shipped_scheme_is_a_point_and_the_caption_says_so(shipped_site):
    site, report, entries = shipped_site
    points, caption = _figure(site)
    assert sorted(href for href, _, _ in points) == sorted(f"schemes/{e.path.stem}.html" for e in entries)
    z2 = [p for p in points if p[1] == "rect"]
    assert sorted(href for href, _, _ in z2) == sorted(f"schemes/{e.path.stem}.html" for e in entries
                                                     if e.ring == "Z2")
    assert len(z2) >= 3 and all(cls.startswith("pt z2 ") for _, _, cls in z2)
    # the outlined squares are drawn first: a circle of the same shape stays visible on top
    assert [kind for _, kind, _ in points] == ["rect"] * len(z2) + ["circle"] * (len(points) - len(z2))
    assert caption.startswith(f"Every scheme on this site ({report.schemes}): a filled circle, or an "
                              "outlined square for a scheme valid modulo 2 only; click a point")
    css = (site / "style.css").read_text()
    assert re.search(r"svg \.pt\.z2 \{ fill: none;", css)


def test_the_caption_counts_the_schemes_left_off_the_plot(tmp_path):
    cat = small_catalog(tmp_path / "cat", with_shipped=("4x4x4-rank47-Z2.json",))
    # the same Strassen again: its row shows the catalogue's copy, so this one is in the list only
    (tmp_path / "again.json").write_bytes((cat / "2x2x2-rank7-ZT.json").read_bytes())
    report = build_site(tmp_path / "site", catalog=cat, schemes=[tmp_path / "again.json"])
    assert report.schemes == 4
    points, caption = _figure(tmp_path / "site")
    assert sorted(href for href, _, _ in points) == [
        "schemes/2x2x2-rank7-ZT.html", "schemes/3x3x3-rank23-ZT.html", "schemes/4x4x4-rank47-Z2.html"]
    assert caption.startswith("3 of the 4 schemes on this site, those the table below shows (the "
                              "lowest-rank one for each shape and ring; every scheme is in the list "
                              "at the end): a filled circle, or an outlined square")


def test_a_modulo_2_scheme_page_gives_no_stability_factor(tmp_path):
    cat = small_catalog(tmp_path / "cat", with_shipped=("4x4x4-rank47-Z2.json",))
    build_site(tmp_path / "site", catalog=cat)
    z2 = (tmp_path / "site" / "schemes" / "4x4x4-rank47-Z2.html").read_text()
    assert "none (valid modulo 2 only: no floating-point product)" in z2
    zt = (tmp_path / "site" / "schemes" / "2x2x2-rank7-ZT.html").read_text()
    assert "12  (max over C entries" in zt


def _unrecorded_catalog(directory):
    """Strassen, Laderman, and ⟨1,2,2;4⟩ and ⟨2,2,7;28⟩: shapes without a tabulated record."""
    from fastmm.catalog import entry_filename
    from fastmm.io import save_scheme
    from fastmm.scheme import naive_scheme

    cat = small_catalog(directory)
    for shape in ((1, 2, 2), (2, 2, 7)):
        scheme = naive_scheme(*shape).with_meta(ring="ZT")
        save_scheme(scheme, cat / entry_filename(shape, scheme.rank, "ZT"))
    return cat


def test_a_scheme_without_a_record_is_not_drawn_behind_it(tmp_path, shipped_site):
    # they were orange, "behind the record", while their row said "no record tabulated"
    build_site(tmp_path / "site", catalog=_unrecorded_catalog(tmp_path / "cat"))
    points, _ = _figure(tmp_path / "site")
    kinds = {href.removeprefix("schemes/").removesuffix(".html"): cls for href, _, cls in points}
    assert kinds == {"2x2x2-rank7-ZT": "pt at", "3x3x3-rank23-ZT": "pt at",
                     "1x2x2-rank4-ZT": "pt none", "2x2x7-rank28-ZT": "pt none"}
    index = (tmp_path / "site" / "index.html").read_text()
    assert index.count('class="pt none"') == 3  # two points and the legend's
    assert "no record tabulated</text>" in index
    assert re.search(r"svg \.pt\.none \{ fill: var\(--muted\); \}",
                     (tmp_path / "site" / "style.css").read_text())
    shipped = (shipped_site[0] / "index.html").read_text()  # the legend only when such a point is drawn
    assert "pt none" not in shipped and "no record tabulated</text>" not in shipped


def test_the_index_counts_the_shapes_as_fastmm_catalog_does(tmp_path):
    # "2 of 37 shapes are at the best-known rank": the two shapes without a record were counted,
    # where `fastmm catalog` says "2 of 35 shapes ... 2 more catalogued"
    import os
    import subprocess
    import sys

    cat = _unrecorded_catalog(tmp_path / "cat")
    build_site(tmp_path / "site", catalog=cat)
    index = (tmp_path / "site" / "index.html").read_text()
    listing = subprocess.run([sys.executable, "-m", "fastmm", "catalog"], capture_output=True, text=True,
                             env={**os.environ, "FASTMM_CATALOG": str(cat)}, check=True).stdout
    summary = re.search(r"^\d+ of (\d+) shapes at .*\((\d+) at the best-known ZT rank\)", listing, re.M)
    assert summary and "2 more catalogued" in listing, listing
    shapes, at = summary.groups()
    assert f" {at} of {shapes} shapes are at the best-known rank." in index
    assert (at, shapes) == ("2", "35")

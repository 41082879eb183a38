"""Hostile input: markup in any string of a scheme file is shown as text, never run; a scheme that
fails verification is left out with a warning; odd file names never reach an address."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

from fastmm.io import dumps, save_scheme
from fastmm.reference import strassen
from fastmm.site import build_site
from tests.site.conftest import parse_page, small_catalog

SCRIPT = "<script>document.title='PWNED'</script>"
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


def hostile_catalog(directory):
    """Strassen with markup in the provenance (command, seed, a key, nested values) and the
    verified record, in a catalogue folder."""
    small_catalog(directory)
    data = json.loads(dumps(strassen().with_meta(ring="ZT")))
    data["provenance"] = {"command": SCRIPT, "seed": IMG, "method": "a & b \"q\" 'x'",
                          IMG: "key with markup", "nested": {"x": SCRIPT}}
    data["verified"] = {"brent": SCRIPT, "at": IMG, "by": "</dd></dl><h1>forged</h1>"}
    (directory / "2x2x2-rank7-ZT.json").write_text(json.dumps(data))
    return directory


def test_markup_in_scheme_strings_is_escaped_text(tmp_path):
    cat = hostile_catalog(tmp_path / "cat")
    build_site(tmp_path / "site", catalog=cat)
    page = tmp_path / "site" / "schemes" / "2x2x2-rank7-ZT.html"
    raw = page.read_text()
    assert "<script>document" not in raw and "<img" not in raw and "<h1>forged" not in raw
    parsed = parse_page(page)
    assert parsed.errors == []
    text = "".join(parsed.text)
    for s in (SCRIPT, IMG, "a & b \"q\" 'x'"):  # from the provenance
        assert s in text  # shown literally
    # the file's own verified record is a claim: never shown, the site shows its own check
    assert "</dd></dl><h1>forged</h1>" not in text and "checked by" in text
    tags = [t for t, _ in parsed.tags]
    assert tags.count("script") == 1 and "img" not in tags and tags.count("h1") == 1
    ET.parse(page)  # still well-formed


def test_scheme_failing_verification_is_left_out_with_a_warning(tmp_path):
    cat = small_catalog(tmp_path / "cat")
    wc = strassen().Wc.copy()
    wc[0, 0] = 0  # C11 loses M1
    broken = strassen().with_meta(ring="ZT", Wc=wc)
    save_scheme(broken, cat / "2x2x3-rank7-ZT.json")  # name and contents disagree as well
    bad_file = tmp_path / "broken.json"
    save_scheme(broken, bad_file)
    report = build_site(tmp_path / "site", catalog=cat, schemes=[bad_file])
    assert report.schemes == 2
    assert any("2x2x3-rank7-ZT.json" in w for w in report.warnings)
    assert any(w.startswith("left out: broken.json") and "fails verification" in w for w in report.warnings)
    pages = sorted(p.name for p in (tmp_path / "site" / "schemes").iterdir())
    assert pages == ["2x2x2-rank7-ZT.html", "3x3x3-rank23-ZT.html"]
    assert "broken" not in (tmp_path / "site" / "index.html").read_text()


def test_unreadable_and_mislabelled_files_are_left_out(tmp_path):
    cat = small_catalog(tmp_path / "cat")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    claims = tmp_path / "claims.json"
    data = json.loads(dumps(strassen().with_meta(ring="ZT")))
    data["Wa"][0] = [2 * x for x in data["Wa"][0]]  # M1 doubled, its uses in C halved
    for row in data["Wc"]:
        row[0] = f"{row[0]}/2" if row[0] else 0
    claims.write_text(json.dumps(data))  # valid over Q, but says ZT
    report = build_site(tmp_path / "site", catalog=cat, schemes=[junk, claims])
    assert report.schemes == 2
    assert any(w.startswith("left out:") and "junk.json" in w for w in report.warnings)
    assert any(w.startswith("left out: claims.json")
               and "declares ring ZT but its coefficients need Q" in w for w in report.warnings)


def test_odd_file_names_become_safe_unique_addresses(tmp_path):
    cat = small_catalog(tmp_path / "cat")
    odd = tmp_path / "x\"><script>alert(1)<script>.json"
    save_scheme(strassen().with_meta(ring="ZT"), odd)
    same = tmp_path / "2x2x2-rank7-ZT.json"  # the catalogue entry's name
    save_scheme(strassen().with_meta(ring="ZT"), same)
    build_site(tmp_path / "site", catalog=cat, schemes=[odd, same])
    pages = sorted(p.name for p in (tmp_path / "site" / "schemes").iterdir())
    assert pages == ["2x2x2-rank7-ZT-2.html", "2x2x2-rank7-ZT.html", "3x3x3-rank23-ZT.html",
                     "x-script-alert-1-script.html"]
    index = parse_page(tmp_path / "site" / "index.html")
    assert index.errors == [] and [t for t, _ in index.tags].count("script") == 1
    assert "x\"><script>alert(1)<script>.json" in "".join(index.text)


def test_text_xml_forbids_is_replaced_and_pages_stay_well_formed(tmp_path):
    """A lone surrogate (JSON "\\ud800", or a file name that is not UTF-8) could not even be written;
    C0 controls made pages that are not XML. Both show as U+FFFD; the JSON download keeps them."""
    cat = small_catalog(tmp_path / "cat")
    data = json.loads(dumps(strassen().with_meta(ring="ZT")))
    data["provenance"] = {"command": "run \ud800 now", "note": "a\u0000b\u0001c\u001bd\ufffe",
                          "k\udfff": "v"}
    sur = tmp_path / "sur.json"
    sur.write_text(json.dumps(data))  # ASCII: the surrogate is the JSON escape \ud800
    schemes = [sur]
    try:
        odd = tmp_path / os.fsdecode(b"odd-\xff.json")
        odd.write_text(json.dumps(data))
        schemes.append(odd)
    except (OSError, UnicodeError):  # a file system that insists on UTF-8 names
        pass
    report = build_site(tmp_path / "site", catalog=cat, schemes=schemes)
    assert report.schemes == 2 + len(schemes)
    page = tmp_path / "site" / "schemes" / "sur.html"
    text = "".join(ET.parse(page).getroot().itertext())  # well-formed XML
    assert "run \ufffd now" in text and "a\ufffdb\ufffdc\ufffdd\ufffd" in text and "k\ufffd" in text
    for p in (tmp_path / "site").rglob("*.html"):
        ET.parse(p)
    if len(schemes) > 1:
        assert "odd-\ufffd.json" in "".join(ET.parse(tmp_path / "site" / "index.html").getroot().itertext())
    download = json.loads((tmp_path / "site" / "files" / "sur.json").read_text())
    assert download["provenance"] == data["provenance"]


def test_the_files_a_site_offers_carry_its_own_check_not_the_files_record(tmp_path):
    # a forged record ("brent": markup) went into files/ as it was, beside a ring it did not name
    cat = hostile_catalog(tmp_path / "cat")
    build_site(tmp_path / "site", catalog=cat)
    data = json.loads((tmp_path / "site" / "files" / "2x2x2-rank7-ZT.json").read_text())
    assert data["verified"]["brent"] == "exact integer Brent equations"
    assert data["verified"]["ok"] is True and data["verified"]["ring"] == data["ring"] == "ZT"
    assert data["verified"]["by"].startswith("fastmm ") and "at" not in data["verified"]


def test_bidirectional_controls_are_shown_not_obeyed(tmp_path):
    from fastmm.site.html import escape

    assert escape("run\u202etxt.exe\u2066x") == "run\\u202etxt.exe\\u2066x"
    cat = small_catalog(tmp_path / "cat")
    data = json.loads((cat / "2x2x2-rank7-ZT.json").read_text())
    data["provenance"] = {"command": "fastmm search \u202e7 knar-- 2 2 2"}
    (cat / "2x2x2-rank7-ZT.json").write_text(json.dumps(data))
    build_site(tmp_path / "site", catalog=cat)
    raw = (tmp_path / "site" / "schemes" / "2x2x2-rank7-ZT.html").read_text()
    assert "\u202e" not in raw and "\\u202e7 knar-- 2 2 2" in raw


def test_bidi_marks_and_c1_controls_do_not_reach_the_pages(tmp_path):
    """U+200E/U+200F/U+061C (bidi marks) and C1 controls (U+009B is a terminal's CSI, U+0085 an
    invisible line break) reached the pages raw, where the terminal shows them escaped."""
    from fastmm.site.html import escape

    assert escape("a\u200fb\u200ec\u061cd") == "a\\u200fb\\u200ec\\u061cd"
    assert escape("X\u009b31mY\u0085Z\x7f") == "X\ufffd31mY\ufffdZ\ufffd"
    assert escape("caf\u00e9\u00a0ok") == "caf\u00e9\u00a0ok"  # Latin-1 letters and NBSP stay
    cat = small_catalog(tmp_path / "cat")
    data = json.loads((cat / "2x2x2-rank7-ZT.json").read_text())
    data["provenance"] = {"command": "fastmm search 2 2 2 X\u009b31mY \u0085Z \u200fRLM\u200e \u061cALM"}
    (cat / "2x2x2-rank7-ZT.json").write_text(json.dumps(data))
    build_site(tmp_path / "site", catalog=cat)
    raw = (tmp_path / "site" / "schemes" / "2x2x2-rank7-ZT.html").read_text()
    assert not any(ch in raw for ch in "\u009b\u0085\u200e\u200f\u061c")
    assert "\\u200fRLM\\u200e \\u061cALM" in raw


def test_the_plot_of_an_untabulated_shape_says_so_not_none(tmp_path):
    from fastmm.scheme import naive_scheme

    cat = small_catalog(tmp_path / "cat")
    save_scheme(naive_scheme(1, 2, 2).with_meta(ring="ZT"), cat / "1x2x2-rank4-ZT.json")
    build_site(tmp_path / "site", catalog=cat)
    index = (tmp_path / "site" / "index.html").read_text()
    assert "⟨1,2,2;4⟩" in index and "best known None" not in index and "best known none tabulated" in index

"""The site in a real browser: headless Chromium opens pages from the file system, with every
network request refused, runs the table script and renders something that is not blank."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fastmm.site import build_site
from tests.site.conftest import PageParser
from tests.site.test_hostile import SCRIPT, hostile_catalog

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")

# headless, no sandbox (containers), and no way out: every host name fails to resolve and every
# request would go to a proxy that is not there
OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", "--proxy-server=127.0.0.1:9",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=2000"]


def chromium(tmp_path: Path, page: Path, *args: str, fragment: str = "") -> str:
    profile = tmp_path / "chromium-profile"
    env = dict(os.environ, HOME=str(tmp_path))
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    run = subprocess.run([CHROMIUM, *OFFLINE, f"--user-data-dir={profile}", *args, url],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def dom(tmp_path: Path, page: Path, fragment: str = "") -> PageParser:
    parser = PageParser()
    parser.feed(chromium(tmp_path, page, "--dump-dom", fragment=fragment))
    return parser


def not_blank(png: Path, size: tuple[int, int]) -> None:
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == size
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        dark = sum(count for count, (r, g, b) in colours if r + g + b < 600)
    assert len(colours) > 50  # text, table lines, plot colours - not a flat page
    assert dark > 0.01 * size[0] * size[1]


def test_index_renders_and_its_script_runs(shipped_site, tmp_path):
    site, _, _ = shipped_site
    page = dom(tmp_path, site / "index.html")
    text = "".join(page.text)
    assert "fastmm: fast matrix-multiplication schemes" in text and "⟨6,6,6⟩" in text
    form = dict(page.tags)["form"]
    assert "hidden" not in form  # site.js un-hides the filters once it has wired them up
    assert "140 of 140 rows" in text  # ... and counted the table's rows


def test_index_script_filters_and_sorts_the_table(shipped_site, tmp_path):
    site, _, _ = shipped_site
    page = dom(tmp_path, site / "index.html", fragment="ring=Z2&sort=rank&order=descending")
    rows = [a for t, a in page.tags if t == "tr" and "data-shape" in a]
    shown = [a for a in rows if "hidden" not in a]
    assert len(rows) == 140 and "35 of 140 rows" in "".join(page.text)
    assert {a["data-ring"] for a in shown} == {"Z2"} and len(shown) == 35
    assert [a["data-shape"] for a in shown[:2]] == ["6x6x6", "5x6x6"]  # ranks 161, 155 first
    assert shown[-1]["data-shape"] == "2x2x2"


def test_strassen_page_renders_formulas(shipped_site, tmp_path):
    site, _, _ = shipped_site
    text = "".join(dom(tmp_path, site / "schemes" / "2x2x2-rank7-ZT.html").text)
    assert "⟨2,2,2;7⟩ over ZT" in text and "M1 = (A11 + A22)·(B11 + B22)" in text
    assert "18 plain, 18 with shared subexpressions" in text


def test_screenshots_are_not_blank(shipped_site, tmp_path):
    site, _, _ = shipped_site
    pages = {"index": site / "index.html", "strassen": site / "schemes" / "2x2x2-rank7-ZT.html"}
    for name, page in pages.items():
        png = tmp_path / f"{name}.png"
        chromium(tmp_path, page, f"--screenshot={png}", "--window-size=1280,900")
        not_blank(png, (1280, 900))


def test_hostile_provenance_is_not_executed_in_the_browser(tmp_path):
    build_site(tmp_path / "site", catalog=hostile_catalog(tmp_path / "cat"))
    page = dom(tmp_path, tmp_path / "site" / "schemes" / "2x2x2-rank7-ZT.html")
    tags = dict(page.tags)
    assert "data-pwned" not in tags["body"]
    assert "img" not in tags and [t for t, _ in page.tags].count("script") == 1
    text = "".join(page.text)
    assert "PWNED" not in text.split("⟨2,2,2;7⟩", 1)[0]  # the <title> is the page's own
    assert SCRIPT in text


def test_a_malformed_escape_in_the_hash_spoils_only_its_own_pair(shipped_site, tmp_path):
    """index.html#shape=%E0&ring=Z2 threw "URIError: URI malformed" and applied no filter."""
    site, _, _ = shipped_site
    page = dom(tmp_path, site / "index.html", fragment="shape=%E0&ring=Z2")
    shown = [a for t, a in page.tags if t == "tr" and "data-shape" in a and "hidden" not in a]
    assert {a["data-ring"] for a in shown} == {"Z2"} and "35 of 140 rows" in "".join(page.text)

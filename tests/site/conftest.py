"""Fixtures for the website tests: the shipped catalogue's site (built once), small catalogues,
and a parser that collects links and ids from a page."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fastmm.catalog import catalog_dir, scan_catalog
from fastmm.io import save_scheme
from fastmm.reference import laderman, strassen
from fastmm.site import build_site


class PageParser(HTMLParser):
    """Links (href/src), ids, text, and a tag-balance check (every non-void tag closed in order)."""

    VOID = {"meta", "link", "br", "hr", "input", "img"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        for key in ("href", "src"):
            if key in a and tag != "html":
                self.links.append(a[key])
        if "id" in a:
            self.ids.add(a["id"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key])
        if "id" in a:
            self.ids.add(a["id"])

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def small_catalog(directory: Path, with_shipped: tuple[str, ...] = ()) -> Path:
    """A catalogue folder holding Strassen and Laderman (and copies of named shipped entries)."""
    directory.mkdir(parents=True, exist_ok=True)
    save_scheme(strassen().with_meta(ring="ZT", provenance={"command": "strassen()", "seed": 0}),
                directory / "2x2x2-rank7-ZT.json")
    save_scheme(laderman().with_meta(ring="ZT"), directory / "3x3x3-rank23-ZT.json")
    for name in with_shipped:
        shutil.copy(catalog_dir() / name, directory / name)
    return directory


@pytest.fixture(scope="session")
def shipped_site(tmp_path_factory):
    """The site of the shipped catalogue, built once for the session (about 5-10 s)."""
    out = tmp_path_factory.mktemp("shipped") / "site"
    report = build_site(out, workers=2)
    entries, _ = scan_catalog(catalog_dir())
    return out, report, entries

"""build_site's arguments and `fastmm site`'s options: bad ones are an InputError (exit 2, one
line), never a TypeError; --workers has the search's limit and starts no idle process; a file
named twice (through --catalog and --schemes, a folder and a file in it) is one scheme."""

from __future__ import annotations

from pathlib import Path

import pytest

import fastmm.site.builder as builder
from fastmm.api import MAX_WORKERS
from fastmm.errors import InputError
from fastmm.site import build_site
from fastmm.site.workers import parallel_map
from tests.site.conftest import small_catalog
from tests.site.test_cli import _refused, run


@pytest.fixture
def pools(monkeypatch):
    """The workers of every parallel map the build starts (which starts at most two: without the
    limit, 4096 processes would make this test the slowest of all, not a failure)."""
    started: list[int] = []

    def pool(fn, items, workers):
        started.append(workers)
        return parallel_map(fn, items, min(workers, 2))

    monkeypatch.setattr(builder, "parallel_map", pool)
    return started


def test_workers_above_the_search_limit_are_refused(tmp_path, capsys, pools):
    cat = small_catalog(tmp_path / "cat")
    err = _refused(["site", str(tmp_path / "out"), "--catalog", str(cat), "--workers", "100000"],
                   capsys, tmp_path)
    assert err == f"error: --workers 100000 is above the limit of {MAX_WORKERS}\n"
    err = _refused(["site", str(tmp_path / "out"), "--catalog", str(cat), "--workers", "0"],
                   capsys, tmp_path)
    assert err == "error: --workers must be a positive integer, got 0\n"
    with pytest.raises(InputError) as exc:
        build_site(tmp_path / "out", catalog=cat, workers=MAX_WORKERS + 1)
    assert str(exc.value) == f"workers = {MAX_WORKERS + 1} is above the limit of {MAX_WORKERS}"
    assert not (tmp_path / "out").exists()


def test_never_more_workers_than_schemes(tmp_path, capsys, pools):
    cat = small_catalog(tmp_path / "cat")  # two schemes
    code, err = run(["site", str(tmp_path / "out"), "--catalog", str(cat), "--workers", str(MAX_WORKERS)],
                    capsys)
    assert code == 0, err
    assert pools == [2]
    (cat / "3x3x3-rank23-ZT.json").unlink()  # one scheme: no pool at all
    build_site(tmp_path / "out", catalog=cat, workers=30)
    assert pools == [2]


@pytest.mark.parametrize("kw, message", [
    ({"workers": "2"}, "workers must be a positive integer, got '2' (str)"),
    ({"workers": 2.0}, "workers must be a positive integer, got 2.0 (float)"),
    ({"workers": True}, "workers must be a positive integer, got True (bool)"),
    ({"catalog": 123}, "catalogue folder: a path is a str or os.PathLike, got 123"),
    ({"catalog": b"cat"}, "catalogue folder: a path is a str or os.PathLike, got b'cat' (bytes)"),
    ({"schemes": [None]}, "scheme file: a path is a str or os.PathLike, got None"),
    ({"schemes": 5}, "schemes: a path or a list of paths (str or os.PathLike), got 5"),
    ({"schemes": b"x.json"},
     "schemes: a path or a list of paths (str or os.PathLike), got b'x.json' (bytes)"),
    ({"schemes": ["a\0b.json"]}, "scheme file: the path contains a NUL character"),
    ({"outdir": 7}, "outdir: a path is a str or os.PathLike, got 7"),
    ({"outdir": ""}, "outdir: empty path"),
])
def test_arguments_of_the_wrong_type_are_an_input_error(tmp_path, kw, message):
    cat = small_catalog(tmp_path / "cat")
    args = {"outdir": tmp_path / "out", "catalog": cat, **kw}
    with pytest.raises(InputError) as exc:
        build_site(**args)
    assert str(exc.value) == message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_one_str_or_path_for_schemes_is_one_path(tmp_path, as_path):
    """It was taken character by character ("scheme file o does not exist")."""
    cat = small_catalog(tmp_path / "cat")
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "mine.json").write_bytes((cat / "2x2x2-rank7-ZT.json").read_bytes())
    report = build_site(tmp_path / "out", catalog=cat, schemes=extra if as_path else str(extra))
    assert report.schemes == 3 and report.warnings == []
    assert (tmp_path / "out" / "schemes" / "mine.html").is_file()
    report = build_site(tmp_path / "out", catalog=cat, schemes=None)
    assert report.schemes == 2


def test_a_file_named_through_catalogue_and_schemes_is_one_scheme(tmp_path, capsys):
    """QA: --catalog xsscat --schemes xsscat/2x2x2-rank7-ZT.json --schemes xsscat made "2 schemes",
    a "-2" page equivalent to the first."""
    cat = small_catalog(tmp_path / "cat")
    (tmp_path / "link.json").symlink_to(cat / "2x2x2-rank7-ZT.json")
    out = tmp_path / "out"
    code, err = run(["site", str(out), "--catalog", str(cat), "--schemes", str(cat / "2x2x2-rank7-ZT.json"),
                     "--schemes", str(cat), "--schemes", str(tmp_path / "cat" / ".." / "cat"),
                     "--schemes", str(tmp_path / "link.json")], capsys)
    assert code == 0, err
    assert err.splitlines()[0].startswith(f"wrote {out}/index.html: 2 schemes, ")
    assert sorted(p.name for p in (out / "schemes").iterdir()) == ["2x2x2-rank7-ZT.html",
                                                                  "3x3x3-rank23-ZT.html"]
    # a copy under another path is another file: it is kept (and its page says it is the same scheme)
    (tmp_path / "copy.json").write_bytes((cat / "2x2x2-rank7-ZT.json").read_bytes())
    assert build_site(out, catalog=cat, schemes=[cat, Path(tmp_path / "copy.json")]).schemes == 3

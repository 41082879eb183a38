"""`fastmm site`: a thin command over build_site: warnings and a summary on stderr, exit codes;
bad named inputs are refused in one line before anything is written."""

from __future__ import annotations

import os

import pytest

from fastmm.cli import main
from fastmm.io import save_scheme
from fastmm.reference import strassen
from fastmm.site import build_site
from tests.hostile.contract import changed, snapshot
from tests.site.conftest import small_catalog


def run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err


def test_site_command_builds_and_reports(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    extra = tmp_path / "more"
    extra.mkdir()
    wb = strassen().Wb.copy()
    wb[3, 0] = 1
    broken = strassen().with_meta(ring="ZT", Wb=wb)
    save_scheme(broken, extra / "bad.json")
    save_scheme(strassen().with_meta(ring="ZT"), extra / "good.json")
    code, err = run(["site", str(tmp_path / "out"), "--catalog", str(cat), "--schemes", str(extra),
                     "--workers", "2"], capsys)
    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith("warning: left out: bad.json: ⟨2,2,2;7⟩ fails verification")
    assert lines[1].startswith(f"wrote {tmp_path / 'out'}/index.html: 3 schemes, ")
    assert (tmp_path / "out" / "schemes" / "good.html").is_file()


def test_site_command_names_a_folder_with_a_newline_on_one_line(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "a\nb\x1b[31m"
    code, err = run(["site", str(out), "--catalog", str(cat)], capsys)
    assert code == 0 and (out / "index.html").is_file()
    assert err.count("\n") == 1 and "a\\nb\\x1b[31m/index.html" in err, err


def test_site_command_refuses_a_foreign_folder_in_one_line(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("x")
    code, err = run(["site", str(tmp_path / "out"), "--catalog", str(cat)], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "not made by `fastmm site`" in err


def _refused(argv: list[str], capsys, root) -> str:
    """Run `fastmm site ...`: exit 2, one "error: " line on stderr, nothing under root changed."""
    before = snapshot(root)
    code, err = run(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert not changed(before, snapshot(root)), err
    return err


@pytest.fixture
def built(tmp_path):
    """A good site in tmp_path/out, an empty catalogue, a file that is not a scheme."""
    out = tmp_path / "out"
    build_site(out, catalog=small_catalog(tmp_path / "cat"))
    (tmp_path / "emptycat").mkdir()
    (tmp_path / "junk.json").write_text("{")
    return tmp_path, out


def test_missing_named_inputs_leave_an_existing_site_untouched(built, capsys):
    root, out = built
    assert (out / "schemes" / "2x2x2-rank7-ZT.html").is_file()
    missing = root / "nonexistent.json"
    err = _refused(["site", str(out), "--catalog", str(root / "emptycat"), "--schemes", str(missing)],
                   capsys, root)
    assert err == f"error: scheme file {missing} does not exist\n"
    err = _refused(["site", str(out), "--catalog", str(root / "nowhere")], capsys, root)
    assert err == f"error: catalogue folder {root / 'nowhere'} does not exist\n"
    (root / "dangling.json").symlink_to(root / "gone.json")
    err = _refused(["site", str(out), "--catalog", str(root / "cat"),
                    "--schemes", str(root / "dangling.json")], capsys, root)
    assert err == f"error: scheme file {root / 'dangling.json'} does not exist\n"
    err = _refused(["site", str(out), "--catalog", str(root / "junk.json")], capsys, root)
    assert "is a file" in err
    err = _refused(["site", str(out), "--catalog", ""], capsys, root)
    assert err == "error: catalogue folder: empty path\n"
    assert _refused(["site", str(out), "--catalog", str(root / "cat"), "--schemes", ""],
                    capsys, root) == "error: scheme file: empty path\n"


def test_inputs_without_a_verified_scheme_never_replace_a_site(built, capsys):
    root, out = built
    err = _refused(["site", str(out), "--catalog", str(root / "emptycat")], capsys, root)
    assert err == (f"error: no verified scheme to build a site from (the inputs hold no scheme files); "
                   f"{out} was left as it was\n")
    err = _refused(["site", str(out), "--catalog", str(root / "emptycat"),
                    "--schemes", str(root / "junk.json")], capsys, root)
    assert err.startswith("error: no verified scheme to build a site from (1 warning, the first: "
                          "left out: junk.json: ") and err.endswith(f"; {out} was left as it was\n")


def test_missing_catalogue_creates_no_output_folder(tmp_path, capsys):
    err = _refused(["site", str(tmp_path / "out1"), "--catalog", str(tmp_path / "nonexistent")],
                   capsys, tmp_path)
    assert "does not exist" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_catalogue_is_refused(built, capsys):
    root, out = built
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        err = _refused(["site", str(out), "--catalog", str(locked)], capsys, root)
    finally:
        locked.chmod(0o755)
    assert err.startswith(f"error: catalogue folder {locked} cannot be read (")


def test_folders_and_files_that_cannot_be_opened_are_refused(built, capsys, monkeypatch):
    """As test_unreadable_catalogue_is_refused, for any user: opening the named path fails."""
    root, out = built
    denied = {str(root / "cat"), str(root / "locked.json")}
    (root / "locked.json").write_text("{}")
    real_scandir, real_open = os.scandir, os.open

    def scandir(path="."):
        if str(path) in denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def open_(path, flags, *args, **kw):
        if str(path) in denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", open_)
    err = _refused(["site", str(out), "--catalog", str(root / "cat")], capsys, root)
    assert err == f"error: catalogue folder {root / 'cat'} cannot be read (Permission denied)\n"
    err = _refused(["site", str(out), "--catalog", str(root / "emptycat"),
                    "--schemes", str(root / "locked.json")], capsys, root)
    assert err == f"error: scheme file {root / 'locked.json'} cannot be read (Permission denied)\n"


def test_an_empty_named_folder_is_a_warning_when_other_inputs_hold_schemes(built, capsys):
    root, out = built
    (root / "none").mkdir()
    code, err = run(["site", str(out), "--catalog", str(root / "cat"), "--schemes", str(root / "none")],
                    capsys)
    assert code == 0
    lines = err.splitlines()
    assert lines[0] == f"warning: scheme folder {root / 'none'} holds no .json files"
    assert lines[1].startswith(f"wrote {out}/index.html: 2 schemes, ")


def test_a_symlink_loop_cannot_be_used_rather_than_missing(built, capsys):
    # Path.exists() is False on ELOOP: "scheme file loop.json does not exist"
    root, out = built
    (root / "loop.json").symlink_to("loop.json")
    err = _refused(["site", str(out), "--catalog", str(root / "cat"), "--schemes", str(root / "loop.json")],
                   capsys, root)
    assert err == (f"error: scheme file {root / 'loop.json'} cannot be used (Too many levels of symbolic "
                   "links)\n")
    (root / "loopcat").symlink_to("loopcat")
    err = _refused(["site", str(out), "--catalog", str(root / "loopcat")], capsys, root)
    assert err == (f"error: catalogue folder {root / 'loopcat'} cannot be used (Too many levels of "
                   "symbolic links)\n")


@pytest.mark.parametrize("text, why", [('{"a": "\x01"}', "Invalid control character at line 1"),
                                       ('{\n"a', "Unterminated string starting at line 2"),
                                       ('{"a": }', "Expecting value at line 1")])
def test_a_file_that_is_not_json_says_why_once(tmp_path, capsys, text, why):
    # "not valid JSON (Invalid control character at at line 1)": json's message ends in "at"
    (tmp_path / "bad.json").write_text(text)
    code, err = run(["site", str(tmp_path / "out"), "--catalog", str(small_catalog(tmp_path / "cat")),
                     "--schemes", str(tmp_path / "bad.json")], capsys)
    assert code == 0
    bad = tmp_path / "bad.json"
    assert err.splitlines()[0] == f"warning: left out: bad.json: {bad}: not valid JSON ({why})"

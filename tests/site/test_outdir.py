"""Where a site goes: a symlinked OUTDIR is followed, a rebuild keeps what it did not write
(.git, CNAME, ...), and an OUTDIR that cannot be written is refused in one line before any work."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fastmm.errors import InputError
from fastmm.paths import OutputError
from fastmm.site import build_site
from fastmm.site.builder import MARKER
from tests.hostile.contract import changed, snapshot
from tests.site.conftest import small_catalog
from tests.site.test_cli import run

OLD_MARKER = "made by `fastmm site`; the whole folder is replaced on rebuild\n"  # before the file list


def _user_files(out: Path) -> dict[str, str]:
    """Files a user adds to a site (a GitHub Pages checkout), written into `out`."""
    files = {"CNAME": "schemes.example.org\n", ".nojekyll": "", ".git/HEAD": "ref: refs/heads/main\n",
             ".git/refs/heads/main": "0" * 40 + "\n", "schemes/notes.txt": "my notes\n",
             "files/README.md": "about the downloads\n"}
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    return files


def _temporaries(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith(".")]


def test_a_symlinked_outdir_is_followed_and_the_link_stays(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    build_site(tmp_path / "out1", catalog=cat)
    (tmp_path / "link1").symlink_to("out1")
    (cat / "3x3x3-rank23-ZT.json").unlink()
    code, err = run(["site", str(tmp_path / "link1"), "--catalog", str(cat)], capsys)
    assert code == 0, err
    assert err.startswith(f"wrote {tmp_path / 'link1'}/index.html: 1 schemes, ")
    assert (tmp_path / "link1").is_symlink() and os.readlink(tmp_path / "link1") == "out1"
    assert not (tmp_path / "out1" / "schemes" / "3x3x3-rank23-ZT.html").exists()  # the target is rebuilt
    assert (tmp_path / "out1" / "schemes" / "2x2x2-rank7-ZT.html").is_file()
    assert _temporaries(tmp_path) == []


def test_a_dangling_symlink_gets_the_site_at_its_target(tmp_path):
    (tmp_path / "link").symlink_to("later")
    build_site(tmp_path / "link", catalog=small_catalog(tmp_path / "cat"))
    assert (tmp_path / "link").is_symlink() and (tmp_path / "later" / "index.html").is_file()


def test_a_symlink_loop_is_refused(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(InputError, match="(?i)symlink loop"):
        build_site(tmp_path / "a", catalog=small_catalog(tmp_path / "cat"))


@pytest.mark.parametrize("old_marker", [False, True], ids=["listed", "made-before-the-list"])
def test_a_rebuild_keeps_what_the_earlier_build_did_not_write(tmp_path, old_marker):
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    if old_marker:
        (out / MARKER).write_text(OLD_MARKER)
    files = _user_files(out)
    (out / "docs").symlink_to(tmp_path / "cat")  # links are kept as links
    (cat / "3x3x3-rank23-ZT.json").unlink()
    build_site(out, catalog=cat)
    for rel, text in files.items():
        assert (out / rel).read_text() == text, rel
    assert os.readlink(out / "docs") == str(tmp_path / "cat")
    assert not (out / "schemes" / "3x3x3-rank23-ZT.html").exists()  # what the site wrote is replaced
    assert not (out / "files" / "3x3x3-rank23-ZT.json").exists()
    assert (out / MARKER).read_text().splitlines()[1:] == sorted(
        str(p.relative_to(out)) for p in out.rglob("*")
        if p.is_file() and not p.is_symlink() and p.name != MARKER and str(p.relative_to(out)) not in files)
    assert _temporaries(tmp_path) == []


def test_a_kept_file_where_the_new_site_writes_is_refused(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    (out / "schemes" / "extra.html").write_text("mine")
    (tmp_path / "extra.json").write_bytes((cat / "2x2x2-rank7-ZT.json").read_bytes())
    before = snapshot(tmp_path)
    code, err = run(["site", str(out), "--catalog", str(cat), "--schemes", str(tmp_path / "extra.json")],
                    capsys)
    assert code == 2 and err.count("\n") == 1
    assert err == (f"error: {out} holds schemes/extra.html, not made by `fastmm site`, where the new site "
                   "writes its own files; move them away and build again\n")
    assert not changed(before, snapshot(tmp_path))


def test_a_failed_replacement_puts_every_entry_back(tmp_path, monkeypatch):
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    _user_files(out)
    before = snapshot(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == out and Path(src).name.startswith(".out.new-"):  # the last step: the swap
            raise OSError(28, "No space left on device", str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputError) as exc:
        build_site(out, catalog=cat)
    assert str(exc.value) == f"cannot build {out}: No space left on device"  # no temporary's name
    assert not changed(before, snapshot(tmp_path))


def _refused_unwritable(argv: list[str], capsys, root: Path) -> str:
    before = snapshot(root)
    code, err = run(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and ".new-" not in err, err
    assert not changed(before, snapshot(root))
    return err


def test_an_unwritable_folder_is_refused_before_building(tmp_path, capsys, monkeypatch):
    cat = small_catalog(tmp_path / "cat")
    ro = tmp_path / "ro"
    (ro / "site").mkdir(parents=True)
    build_site(ro / "site", catalog=cat)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != ro and real_access(p, mode, **kw))
    for out in (ro / "out", ro / "new" / "out", ro / "site"):
        err = _refused_unwritable(["site", str(out), "--catalog", str(cat)], capsys, tmp_path)
        assert err == f"error: {ro} is not writable (permission denied): cannot build {out} there\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_a_read_only_folder_is_refused_before_building(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        err = _refused_unwritable(["site", str(ro / "out"), "--catalog", str(cat)], capsys, tmp_path)
    finally:
        ro.chmod(0o755)
    assert err == f"error: {ro} is not writable (permission denied): cannot build {ro / 'out'} there\n"


def test_a_file_on_the_way_to_outdir_is_refused(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    afile, out = tmp_path / "afile", tmp_path / "afile" / "out"
    afile.write_text("x")
    err = _refused_unwritable(["site", str(out), "--catalog", str(cat)], capsys, tmp_path)
    assert err == f"error: {afile} is not a folder: cannot build {out} there\n"


def _leftovers(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name.startswith(".out.old-"))


def test_an_old_site_that_cannot_be_removed_is_a_warning_once_the_new_one_is_in_place(
        tmp_path, capsys, monkeypatch):
    """The last step, removing the replaced site, fails (e.g. an immutable file in it): the new
    site is in place, so exit 0 with one warning naming the leftover folder (it was exit 1,
    "cannot build ...: Operation not permitted")."""
    import shutil

    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    (cat / "3x3x3-rank23-ZT.json").unlink()
    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kw):
        if Path(path).name.startswith(".out.old-"):
            exc = PermissionError(1, "Operation not permitted", str(path))
            if kw.get("onexc"):
                kw["onexc"](os.rmdir, str(path), exc)
            elif kw.get("onerror"):
                kw["onerror"](os.rmdir, str(path), (type(exc), exc, None))
            else:
                raise exc
            return None
        return real_rmtree(path, *args, **kw)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    code, err = run(["site", str(out), "--catalog", str(cat)], capsys)
    assert code == 0, err
    [left] = _leftovers(tmp_path)
    assert err.splitlines() == [
        f"warning: the new site is in place, but the old one could not be removed (Operation not "
        f"permitted): delete {left} by hand",
        err.splitlines()[1]]
    assert err.splitlines()[1].startswith(f"wrote {out}/index.html: 1 schemes, ")
    assert not (out / "schemes" / "3x3x3-rank23-ZT.html").exists()  # the new site is in place
    assert (left / "site" / "schemes" / "3x3x3-rank23-ZT.html").is_file()  # the old one is left
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.new-")] == []


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("chattr") is None, reason="chattr +i needs root")
def test_an_immutable_old_site_is_left_with_a_warning(tmp_path, capsys):
    """As above, with a real immutable folder (QA: chattr +i OLD/schemes)."""
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    locked = out / "schemes"
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable flag")
    try:
        code, err = run(["site", str(out), "--catalog", str(cat)], capsys)
        [left] = _leftovers(tmp_path)
        locked = left / "site" / "schemes"
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0] == (
        f"warning: the new site is in place, but the old one could not be removed (Operation not "
        f"permitted): delete {left} by hand")
    assert (out / "index.html").is_file() and (out / MARKER).is_file()


@pytest.mark.parametrize("when", ["old site moved away", "kept entry moved", "every step"])
def test_sigterm_at_any_step_of_the_swap_leaves_the_old_site_whole(tmp_path, when):
    # SIGTERM killed `fastmm site` between the renames: OUTDIR gone, the user's .git hidden in a
    # temporary folder; and a site rebuilt over many kept files had no index.html for a while
    import sys

    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    _user_files(out)
    before = snapshot(tmp_path)
    # "every step": a signal after each move (a second Ctrl-C while things were put back lost
    # the user's files): the swap holds them back and acts on the first once it is whole
    test = {"old site moved away": "Path(src) == out",
            "kept entry moved": "Path(src).parent == out and Path(src).name == 'CNAME'",
            "every step": "True"}[when]
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from fastmm.cli import main\n"
        f"out = Path({str(out)!r})\n"
        "real = os.replace\n"
        "def replace(src, dst, *a, **k):\n"
        "    real(src, dst, *a, **k)\n"
        f"    if {test}:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "os.replace = replace\n"
        f"main(['site', str(out), '--catalog', {str(cat)!r}])\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 143 and r.stderr.strip().splitlines()[-1] == "interrupted", r.stderr
    assert not changed(before, snapshot(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat", "out"]  # no temporaries left


def test_an_outdir_name_near_the_length_limit_builds(tmp_path):
    # the temporaries were named .NAME.new-XXXXXXXX: 14 characters more than NAME, too long at 242
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / ("s" * 250)
    build_site(out, catalog=cat)
    assert (out / "index.html").is_file()
    build_site(out, catalog=cat)  # and over itself
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cat", out.name])


def test_an_outdir_name_near_the_limit_in_bytes_builds(tmp_path):
    # the cut counted characters: 61 four-byte characters made a temporary name too long
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / ("\U0001f600" * 61)
    build_site(out, catalog=cat)
    assert (out / "index.html").is_file()

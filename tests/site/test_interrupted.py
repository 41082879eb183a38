"""A build killed between the swap's steps (SIGKILL: no handler runs) and two builds at once.

QA: `kill -9` as soon as a .S.old-* appeared left the user's .git, CNAME and files inside the
hidden .S.new-* (or .S.old-*) beside S; the next build exited 0 without them and said nothing.
The interrupted states are made here as `_swap` leaves them, step by step. And two builds of
one OUTDIR at once: the second failed with "cannot build S: No such file or directory".
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from fastmm.errors import InputError
from fastmm.site import build_site
from fastmm.site.builder import _kept
from tests.site.conftest import small_catalog
from tests.site.test_cli import run
from tests.site.test_outdir import _user_files


def _interrupted(tmp_path: Path, step: str) -> tuple[Path, Path, dict[str, str]]:
    """A site tmp_path/out holding the user's files, and a rebuild of it killed at `step` of
    `_swap`: (out, the catalogue, the user's files). The new site lies in .out.new-newsite1 and
    the empty .out.old-oldsite1 is made first, as `_swap` does."""
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    files = _user_files(out)
    for i in range(20):
        (out / "files" / f"mine-{i}.txt").write_text(f"{i}\n")
        files[f"files/mine-{i}.txt"] = f"{i}\n"
    fresh, old = tmp_path / ".out.new-newsite1", tmp_path / ".out.old-oldsite1"
    build_site(tmp_path / "made", catalog=cat)
    os.rename(tmp_path / "made", fresh)
    old.mkdir()
    kept = _kept(out)
    moving = kept[: len(kept) // 2] if step == "kept entries moving" else kept
    for rel in moving:
        (fresh / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(out / rel, fresh / rel)
    if step in ("old site moved away", "new site in place"):
        os.replace(out, old / "site")
    if step == "new site in place":
        os.replace(fresh, out)
    return out, cat, files


@pytest.mark.parametrize("step", ["kept entries moving", "every entry moved", "old site moved away",
                                  "new site in place"])
def test_a_build_after_a_killed_swap_puts_the_users_files_back(tmp_path, capsys, step):
    out, cat, files = _interrupted(tmp_path, step)
    code, err = run(["site", str(out), "--catalog", str(cat)], capsys)
    assert code == 0, err
    for rel, text in files.items():
        assert (out / rel).read_text() == text, rel
    assert (out / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat", "out"]  # the temporaries are gone
    lines = err.splitlines()
    assert lines[-1].startswith(f"wrote {out}/index.html: 2 schemes, ")
    if step == "new site in place":  # nothing of the user's was hidden: only the old site is removed
        assert len(lines) == 1, err
    else:
        assert len(lines) == 2 and lines[0].startswith("warning: put back ") and lines[0].endswith(
            f" into {out}, from {tmp_path / '.out.new-newsite1'} (left by an interrupted build)"), err


def test_what_cannot_be_put_back_is_left_and_named(tmp_path, capsys):
    # OUTDIR itself was deleted by hand: there is no site to put the files back into
    out, cat, files = _interrupted(tmp_path, "old site moved away")
    (tmp_path / ".out.old-oldsite1" / "site").rename(tmp_path / "elsewhere")
    code, err = run(["site", str(out), "--catalog", str(cat)], capsys)
    assert code == 0, err
    fresh = tmp_path / ".out.new-newsite1"
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("warning: an interrupted build left ")
    assert lines[0].endswith(f" in {fresh}, which {out} cannot take back: move them by hand")
    for rel, text in files.items():  # never dropped: still where the killed build left them
        assert (fresh / rel).read_text() == text, rel
    assert not (tmp_path / ".out.old-oldsite1").exists()  # empty: nothing of the user's in it


def test_an_entry_the_site_holds_again_is_not_overwritten(tmp_path):
    out, cat, files = _interrupted(tmp_path, "every entry moved")
    (out / "CNAME").write_text("new.example.org\n")  # written again by hand since
    report = build_site(out, catalog=cat)
    fresh = tmp_path / ".out.new-newsite1"
    assert (out / "CNAME").read_text() == "new.example.org\n"
    assert (fresh / "CNAME").read_text() == files["CNAME"]
    assert (out / ".git" / "HEAD").read_text() == files[".git/HEAD"]  # the rest is put back
    assert report.warnings == [f"an interrupted build left CNAME in {fresh}, which {out} cannot take "
                               "back: move them by hand"]


def test_a_killed_build_before_the_swap_leaves_nothing_behind(tmp_path):
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    (tmp_path / ".out.new-abcdefgh" / "schemes").mkdir(parents=True)  # killed while writing
    (tmp_path / ".out.new-abcdefgh" / ".fastmm-site").write_text("made by\nindex.html\nschemes/a.html\n")
    (tmp_path / ".other.new-abcdefgh").mkdir()  # another site's: left alone
    report = build_site(out, catalog=cat)
    assert report.warnings == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.new-abcdefgh", "cat", "out"]


def _hold_lock(out: Path) -> int:
    fd = os.open(out.parent / f".{out.name}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_second_build_of_the_same_folder_is_refused_in_one_line(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    out = tmp_path / "out"
    build_site(out, catalog=cat)
    before = sorted(str(p) for p in out.rglob("*"))
    fd = _hold_lock(out)  # as a build in progress holds it
    try:
        code, err = run(["site", str(out), "--catalog", str(cat)], capsys)
        with pytest.raises(InputError, match="another `fastmm site` is building"):
            build_site(out, catalog=cat)
    finally:
        os.close(fd)  # as a build that ends, or dies
    assert code == 2 and err == (f"error: another `fastmm site` is building {out}; wait for it to end "
                                 "and build again\n")
    assert sorted(str(p) for p in out.rglob("*")) == before
    # the lock file a killed build left blocks nothing, and the next build removes it
    build_site(out, catalog=cat)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat", "out"]
    build_site(tmp_path / "other", catalog=cat)  # another folder's build is not held up


def test_builds_one_after_another_each_take_the_lock(tmp_path):
    cat = small_catalog(tmp_path / "cat")
    for _ in range(3):
        build_site(tmp_path / "out", catalog=cat)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat", "out"]


def test_an_old_site_whose_removal_stopped_part_way_is_removed_not_put_back(tmp_path, capsys):
    """QA-132: an old site whose removal failed after its marker went (an immutable file) was
    named on every later build as an interrupted build's files to move back by hand, and moving
    them would have put the old index.html over the new one."""
    from fastmm.site.builder import MARKER

    out, cat, files = _interrupted(tmp_path, "new site in place")
    left = tmp_path / ".out.old-oldsite1" / "site"
    (left / MARKER).unlink()  # rmtree got this far
    new_index = (out / "index.html").read_bytes()
    code, err = run(["site", str(out), "--catalog", str(cat)], capsys)
    assert code == 0, err
    assert len(err.splitlines()) == 1 and err.startswith(f"wrote {out}/index.html: 2 schemes, "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat", "out"]
    assert (out / "index.html").read_bytes() == new_index
    for rel, text in files.items():
        assert (out / rel).read_text() == text, rel

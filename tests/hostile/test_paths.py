"""Hostile output paths: refused before any work, or written; nothing else is ever changed.

A symlink is followed (its target is written, the link stays a link); a FIFO, a device, a
directory, a path under a file, a missing folder, an over-long name are refused with exit 2.
"""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmm.io import dumps
from fastmm.reference import strassen
from tests.hostile.contract import assert_clean, changed, run_cli, snapshot

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KINDS = ["new", "file", "dir", "fifo", "link", "dangling", "loop", "under-file", "missing-dir",
         "long", "devnull", "empty", "trailing-slash", "link-to-device", "link-to-fifo"]
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
                min_size=1, max_size=40).filter(lambda s: s not in (".", ".."))


def _make(root, kind: str, name: str):
    """An output path of the given kind under root; returns (path, the file a write may change)."""
    target = root / f"t-{name}"
    if kind == "new":
        return target, target
    if kind == "file":
        target.write_text("old")
        return target, target
    if kind == "dir":
        target.mkdir()
        return target, None
    if kind == "fifo":
        os.mkfifo(target)
        return target, None
    if kind == "link":
        real = root / "real.json"
        real.write_text("old")
        target.symlink_to(real)
        return target, real
    if kind == "dangling":
        target.symlink_to(root / "nowhere.json")
        return target, root / "nowhere.json"
    if kind == "loop":
        target.symlink_to(target)
        return target, None
    if kind == "under-file":
        target.write_text("old")
        return target / "x.json", None
    if kind == "missing-dir":
        return root / "no" / "such" / "x.json", None
    if kind == "long":
        return root / ("a" * 256 + name), None
    if kind == "devnull":
        return "/dev/null", None
    if kind == "link-to-device":
        target.symlink_to("/dev/null")
        return target, None
    if kind == "link-to-fifo":
        os.mkfifo(root / "fifo")
        target.symlink_to(root / "fifo")
        return target, None
    if kind == "empty":
        return "", None
    return str(target) + "/", None


@pytest.fixture
def scheme_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("in") / "s.json"
    f.write_text(dumps(strassen()))
    return f


@SETTINGS
@given(kind=st.sampled_from(KINDS), name=names,
       command=st.sampled_from(["export-text", "export-npz", "import", "bench-json"]))
def test_output_paths(tmp_path_factory, scheme_file, kind, name, command):
    root = tmp_path_factory.mktemp("out")
    try:
        out, may_change = _make(root, kind, name)
    except OSError:  # a name this file system refuses for the setup itself
        return
    if command == "import":
        npz = root.parent / f"{root.name}-in.npz"
        run_cli("export", scheme_file, "--to", "alphatensor", "-o", npz)
        args = ["import", npz, "--from", "alphatensor", "-o", out]
    elif command == "export-text":
        args = ["export", scheme_file, "--to", "text", "-o", out]
    elif command == "export-npz":
        args = ["export", scheme_file, "--to", "alphatensor", "-o", out]
    else:
        args = ["bench", scheme_file, "--size", "0", "--json", out]  # refused before any timing
    before = snapshot(root)
    devnull_mode = os.stat("/dev/null").st_mode
    r = run_cli(*args)
    assert_clean(r, allowed=(0, 2))
    diff = changed(before, snapshot(root))
    allowed = {str(may_change)} if may_change is not None and r.rc == 0 else set()
    assert diff <= allowed, diff
    if kind == "link":
        assert (root / f"t-{name}").is_symlink()
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(root / f"t-{name}").st_mode)
    assert os.stat("/dev/null").st_mode == devnull_mode

"""`fastmm site`: a thin command over build_site: warnings and a summary on stderr, exit codes."""

from __future__ import annotations

import pytest

from fastmm.cli import main
from fastmm.io import save_scheme
from fastmm.reference import strassen
from tests.site.conftest import small_catalog


def run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err


def test_site_command_builds_and_reports(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    extra = tmp_path / "more"
    extra.mkdir()
    broken = strassen().with_meta(ring="ZT")
    broken.Wb[3, 0] = 1
    save_scheme(broken, extra / "bad.json")
    save_scheme(strassen().with_meta(ring="ZT"), extra / "good.json")
    code, err = run(["site", str(tmp_path / "out"), "--catalog", str(cat), "--schemes", str(extra),
                     "--workers", "2"], capsys)
    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith("warning: left out: bad.json: ⟨2,2,2;7⟩ fails verification")
    assert lines[1].startswith(f"wrote {tmp_path / 'out'}/index.html: 3 schemes, ")
    assert (tmp_path / "out" / "schemes" / "good.html").is_file()


def test_site_command_refuses_a_foreign_folder_in_one_line(tmp_path, capsys):
    cat = small_catalog(tmp_path / "cat")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("x")
    code, err = run(["site", str(tmp_path / "out"), "--catalog", str(cat)], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "not made by `fastmm site`" in err

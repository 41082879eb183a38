"""Formula exports (text, Markdown, LaTeX) and the export command: exact lines, Z2 banner, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastmm.cli import main
from fastmm.export.text import latex, markdown, slp_text, text
from fastmm.io import dumps, save_scheme
from fastmm.reference import strassen
from fastmm.scheme import Scheme
from tests.export.schemes import dead_product_schemes, rational_strassen, winograd

SUMMARY = "<2,2,2;7> scheme: A is 2x2, B is 2x2, 7 multiplications, ring ZT (ternary integers {-1, 0, 1})"
STRASSEN_TEXT = f"# {SUMMARY}\n" + """\
M1 = (A11 + A22)·(B11 + B22)
M2 = (A21 + A22)·B11
M3 = A11·(B12 − B22)
M4 = A22·(−B11 + B21)
M5 = (A11 + A12)·B22
M6 = (−A11 + A21)·(B11 + B12)
M7 = (A12 − A22)·(B21 + B22)
C11 = M1 + M4 − M5 + M7
C12 = M3 + M5
C21 = M2 + M4
C22 = M1 − M2 + M3 + M6
"""

STRASSEN_LATEX = f"% {SUMMARY}\n" + r"""% needs \usepackage{amsmath}
\begin{align*}
M_{1} &= (A_{11} + A_{22}) \, (B_{11} + B_{22}) \\
M_{2} &= (A_{21} + A_{22}) \, B_{11} \\
M_{3} &= A_{11} \, (B_{12} - B_{22}) \\
M_{4} &= A_{22} \, (-B_{11} + B_{21}) \\
M_{5} &= (A_{11} + A_{12}) \, B_{22} \\
M_{6} &= (-A_{11} + A_{21}) \, (B_{11} + B_{12}) \\
M_{7} &= (A_{12} - A_{22}) \, (B_{21} + B_{22}) \\
C_{11} &= M_{1} + M_{4} - M_{5} + M_{7} \\
C_{12} &= M_{3} + M_{5} \\
C_{21} &= M_{2} + M_{4} \\
C_{22} &= M_{1} - M_{2} + M_{3} + M_{6}
\end{align*}
"""


def _z2_strassen() -> Scheme:
    s = strassen()
    return Scheme(2, 2, 2, s.Wa, s.Wb, s.Wc, ring="Z2")


def test_strassen_text_lines() -> None:
    assert text(strassen()) == STRASSEN_TEXT


def test_strassen_ascii_text() -> None:
    lines = text(strassen(), ascii_only=True).splitlines()
    assert lines[4] == "M4 = A22*(-B11 + B21)"
    assert lines[8] == "C11 = M1 + M4 - M5 + M7"


def test_ascii_text_of_a_z2_scheme_is_ascii() -> None:
    z2 = strassen().with_meta(ring="Z2")
    out = text(z2, ascii_only=True)
    assert out.isascii()
    assert out.splitlines()[0].endswith("ring Z2 (GF(2) -- valid modulo 2 only)")
    assert "GF(2) — valid modulo 2 only" in text(z2)  # the default text keeps the dash


def test_strassen_latex_lines() -> None:
    assert latex(strassen()) == STRASSEN_LATEX


def test_strassen_markdown_lines() -> None:
    lines = markdown(strassen()).splitlines()
    assert lines[0] == "### ⟨2,2,2;7⟩"
    assert "- `M1 = (A11 + A22)*(B11 + B22)`" in lines
    assert "- `M6 = (-A11 + A21)*(B11 + B12)`" in lines
    assert "- `C22 = M1 - M2 + M3 + M6`" in lines
    assert lines.index("Products:") < lines.index("Result blocks:")
    assert sum(1 for line in lines if line.startswith("- `")) == 7 + 4


def test_fractions_stay_fractions() -> None:
    s = rational_strassen()
    assert r"M_{3} &= A_{11} \, (\tfrac{1}{3} B_{12} - \tfrac{1}{3} B_{22}) \\" in latex(s)
    assert r"C_{11} &= \tfrac{1}{2} M_{1} + M_{4} - M_{5} + M_{7} \\" in latex(s)
    assert "M3 = A11·(1/3·B12 − 1/3·B22)" in text(s)
    assert "- `C12 = 3*M3 + M5`" in markdown(s)


@pytest.mark.parametrize("render", [text, markdown, latex, slp_text])
def test_z2_banner_in_every_format(render) -> None:
    assert "valid modulo 2 only" in render(_z2_strassen()).lower()
    assert "modulo 2" not in render(strassen()).lower()


def test_slp_text_shows_shared_temporaries_and_count() -> None:
    out = slp_text(winograd())
    assert "# 15 additions, 0 scalings per level (shared subexpressions)" in out
    assert "S1 = A11 - A21" in out
    assert "# 24 additions" in slp_text(winograd(), cse=False)


def test_formulas_show_a_dead_product_as_written_and_the_program_leaves_it_out() -> None:
    dead = dead_product_schemes()
    zero_left, unused = dead["zero_left"], dead["unused"]
    assert "M8 = 0·(B11 + B12)" in text(zero_left).splitlines()
    assert "C11 = M1 + M4 − M5 + M7 + M8" in text(zero_left).splitlines()
    assert r"M_{8} &= 0 \, (B_{11} + B_{12}) \\" in latex(zero_left)
    assert "- `M8 = 0*(B11 + B12)`" in markdown(zero_left).splitlines()
    assert "M8 = A11·B11" in text(unused) and "M8" not in "".join(text(unused).splitlines()[9:])
    assert r"C_{11} &= M_{1} + M_{4} - M_{5} + M_{7} \\" in latex(unused)
    for s in (zero_left, unused):
        lines = slp_text(s).splitlines()
        assert lines[1] == ("# left out, as in the generated code: M8 (zero operand or unused in C: "
                            "contributes nothing)")
        assert lines[2] == "# 18 additions, 0 scalings per level (shared subexpressions)"  # Strassen's
        assert not any(line.startswith(("L8 ", "R8 ", "M8 ")) or "M8" in line for line in lines[3:])
    assert "left out" not in slp_text(strassen())


# -- the command ---------------------------------------------------------------------------


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_export_command_prints_latex(tmp_path: Path, capsys) -> None:
    f = tmp_path / "s.json"
    save_scheme(strassen(), f)
    code, out, _ = _run(["export", str(f), "--to", "latex"], capsys)
    assert code == 0 and out == STRASSEN_LATEX


def test_export_command_writes_file_atomically(tmp_path: Path, capsys) -> None:
    f = tmp_path / "s.json"
    save_scheme(strassen(), f)
    target = tmp_path / "out.txt"
    target.write_text("old")
    code, out, err = _run(["export", str(f), "--to", "text", "-o", str(target)], capsys)
    assert code == 0 and out == ""
    assert target.read_text() == STRASSEN_TEXT
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_refuses_a_scheme_that_fails_verification(tmp_path: Path, capsys) -> None:
    data = json.loads(dumps(strassen()))
    data["Wc"][0][0] = 0  # drop M1 from C11
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(data))
    out_file = tmp_path / "out.py"
    code, out, err = _run(["export", str(f), "--to", "numpy", "-o", str(out_file)], capsys)
    assert code == 1
    assert "C11: missing a11*b11" in err and "Traceback" not in err
    assert not out_file.exists()


def test_export_refuses_injected_coefficient(tmp_path: Path, capsys) -> None:
    data = json.loads(dumps(strassen()))
    data["Wa"][0][0] = "1); os.system('x'); ("
    f = tmp_path / "evil.json"
    f.write_text(json.dumps(data))
    for fmt in ("numpy", "torch", "text", "perminov"):
        out_file = tmp_path / f"out.{fmt}"
        code, out, err = _run(["export", str(f), "--to", fmt, "-o", str(out_file)], capsys)
        assert code == 2, err
        assert "Wa[0][0]" in err and "not an integer or p/q fraction" in err
        assert not out_file.exists()
        assert out == ""


def test_export_numpy_module_runs(tmp_path: Path, capsys) -> None:
    import numpy as np

    f = tmp_path / "s.json"
    save_scheme(winograd(), f)
    code, out, _ = _run(["export", str(f), "--to", "numpy"], capsys)
    assert code == 0
    ns: dict = {}
    exec(compile(out, "gen", "exec"), ns)  # the module we just generated
    a = np.arange(35).reshape(5, 7)
    assert np.array_equal(ns["matmul"](a, a.T, levels=2, leaf=1), a @ a.T)
    _, plain, _ = _run(["export", str(f), "--to", "numpy", "--no-cse"], capsys)
    assert "S1 = " in out and "S1 = " not in plain


def test_binary_format_needs_an_output_file(tmp_path: Path, capsys) -> None:
    f = tmp_path / "s.json"
    save_scheme(strassen(), f)
    code, _, err = _run(["export", str(f), "--to", "alphatensor"], capsys)
    assert code == 2 and "-o FILE" in err


@pytest.mark.parametrize("name", ["zero_left", "zero_right", "unused"])
def test_export_command_writes_code_for_a_scheme_with_a_dead_product(tmp_path: Path, capsys, name) -> None:
    import numpy as np
    import torch

    f = tmp_path / "s8.json"
    save_scheme(dead_product_schemes()[name], f)
    for fmt in ("numpy", "torch", "c", "slp", "latex"):
        out = tmp_path / f"out.{fmt}"
        code, _, err = _run(["export", str(f), "--to", fmt, "-o", str(out)], capsys)
        assert code == 0 and err == f"wrote {out} ({fmt}, ⟨2,2,2;8⟩, ring ZT)\n"
    a, b = np.arange(63).reshape(7, 9) % 5 - 2, np.arange(99).reshape(9, 11) % 7 - 3
    for fmt in ("numpy", "torch"):
        ns: dict = {}
        exec(compile((tmp_path / f"out.{fmt}").read_text(), "gen", "exec"), ns)  # our generated module
        args = (a, b) if fmt == "numpy" else (torch.tensor(a), torch.tensor(b))
        got = np.asarray(ns["matmul"](*args, levels=2, leaf=1))
        assert np.array_equal(got, a @ b), fmt


def test_bench_command_runs_numpy_code_of_a_scheme_with_a_dead_product(tmp_path: Path, capsys) -> None:
    f = tmp_path / "s8.json"
    save_scheme(dead_product_schemes()["zero_left"], f)
    for impl in ("numpy", "torch"):
        code, out, err = _run(["bench", str(f), "--impl", impl, "--size", "24", "--repeat", "1",
                               "--levels", "2", "--cutoff", "2"], capsys)
        assert code == 0, err
        assert "error: " not in err and "⟨2,2,2;8⟩" in out + err


def _z2(scheme: Scheme) -> Scheme:
    return Scheme(*scheme.shape, scheme.Wa, scheme.Wb, scheme.Wc, ring="Z2")


@pytest.mark.parametrize("fmt, scheme, reason", [
    ("c", "z2", "valid modulo 2 only"),
    ("numpy", "z2", "valid modulo 2 only"),
    ("torch", "z2", "valid modulo 2 only"),
    ("fast-matmul", "z2", "valid modulo 2 only"),
    ("alphatensor", "z2", "valid modulo 2 only"),
    ("alphatensor", "third", "not exactly representable in a float64 array"),
])
def test_a_format_that_cannot_hold_the_scheme_exits_2_in_one_line(tmp_path: Path, capsys, fmt, scheme,
                                                                 reason) -> None:
    f = tmp_path / "s.json"
    save_scheme(_z2(strassen()) if scheme == "z2" else rational_strassen(), f)
    out = tmp_path / "out"
    out.write_text("keep me")
    code, stdout, err = _run(["export", str(f), "--to", fmt, "-o", str(out)], capsys)
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("error: ⟨2,2,2;7⟩") and reason in err
    assert out.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s.json"]

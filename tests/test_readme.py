"""The README's Python example runs as written (in a fresh folder)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})  # our own document
    out = capsys.readouterr().out
    assert "M11 =" in out and "rank ≥ 19 is proven" in out
    assert (tmp_path / "my-223.json").exists()


def test_api_names_stay_callable_after_their_modules_are_imported():
    import fastmm
    import fastmm.catalog
    import fastmm.export.text
    import fastmm.search.runner
    import fastmm.verify  # noqa: F401

    s = fastmm.strassen()
    assert fastmm.verify(s) and fastmm.verify.verify(s).ok
    assert "M1" in fastmm.export(s, to="text")
    assert len(fastmm.catalog()) == 35
    assert fastmm.search((2, 2, 2), rank=8).rank == 8  # the naive scheme, at once

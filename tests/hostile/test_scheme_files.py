"""Hostile scheme files: every command that reads one answers cleanly and quickly."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.hostile.contract import assert_clean, changed, run_cli, snapshot
from tests.hostile.strategies import hostile_scheme_text

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@SETTINGS
@given(text=hostile_scheme_text())
def test_verify_show_export_answer_cleanly(tmp_path, text):
    f = tmp_path / "s.json"
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = snapshot(tmp_path)
    out = tmp_path / "out.json"
    for args in (["verify", "--no-sympy", f], ["show", f], ["export", f, "--to", "text"],
                 ["combine", "kron", f, f, "--no-sympy", "-o", out],
                 ["lift", f, "--ring", "Z", "--no-sympy", "-o", out],
                 ["search", "2", "2", "2", "--rank", "7", "--start", f, "--time-limit", "5", "--no-sympy",
                  "-q", "-o", out]):
        r = run_cli(*args)
        assert_clean(r)
        if r.rc == 2:
            assert str(f) in r.err  # the message names the file
        out.unlink(missing_ok=True)  # a valid file makes a product or a walk: its one output
    assert not changed(before, snapshot(tmp_path))


@SETTINGS
@given(text=hostile_scheme_text())
def test_export_to_a_file_writes_only_that_file(tmp_path, text):
    f = tmp_path / "s.json"
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    out = tmp_path / "out.npz"
    out.unlink(missing_ok=True)
    before = snapshot(tmp_path)
    r = run_cli("export", f, "--to", "alphatensor", "-o", out)
    assert_clean(r)
    assert changed(before, snapshot(tmp_path)) <= {str(out)}
    assert out.exists() == (r.rc == 0)

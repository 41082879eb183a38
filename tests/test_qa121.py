"""QA 121: a fast product without memory for its temporaries is fastmm's own error (still a
MemoryError); command-line messages name the flag typed, not the library's argument; ring
choices are shown as the field writes them; a search stopped while walking from a --start says
the best rank it reached."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmm
from fastmm import api
from fastmm.cli.numbers import UpperChoice
from fastmm.errors import FastmmError, InputError, OutOfMemoryError, SearchFailed
from fastmm.export import build
from fastmm.io import save_scheme
from fastmm.scheme import Scheme, naive_scheme
from tests.hostile.contract import run_cli

POINTS = "results/numerical_points/2x4x5-r32-fitted.json"
NO_TEMPORARIES = "out of memory for the temporaries of the fast product (fewer levels need less)"

# The fast product's first call runs under an address-space limit 16 MiB above what the process
# holds: the 2048² Strassen level's temporaries (tens of MiB) cannot be allocated, so the C
# runtime returns -1 from a real failed allocation.
_LIMITED = textwrap.dedent("""
    import resource
    import numpy as np
    from fastmm.export import build

    def _limit():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                limit = int(line.split()[1]) * 1024 + (16 << 20)
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    compiled = build.c_function

    def c_function(*args, **kwargs):
        fn = compiled(*args, **kwargs)  # built and loaded before the limit

        def limited(a, b, out=None):
            out = np.empty((a.shape[0], b.shape[1]), a.dtype) if out is None else out  # not limited
            _limit()
            return fn(a, b, out=out)
        return limited

    build.c_function = c_function
""")


def _run_limited(tmp_path, body: str) -> subprocess.CompletedProcess:
    try:
        build.find_compiler()
        build.find_blas()
    except FastmmError:
        pytest.skip("no C compiler or BLAS: matmul runs numpy.matmul")
    env = {**os.environ, "FASTMM_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-c", _LIMITED + textwrap.dedent(body)], capture_output=True,
                          text=True, env=env, cwd=os.getcwd(), timeout=300)


def test_temporaries_that_cannot_be_allocated_are_a_fastmm_error_and_still_a_memory_error(tmp_path):
    r = _run_limited(tmp_path, """
        import numpy as np
        import fastmm
        from fastmm.errors import FastmmError
        a = np.ones((2048, 2048))
        out = np.empty_like(a)
        try:
            fastmm.matmul(a, a, levels=1, cutoff=16, out=out)
        except FastmmError as exc:
            print(type(exc).__name__, isinstance(exc, MemoryError), exc.exit_code, exc)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"OutOfMemoryError True 1 {NO_TEMPORARIES}\n"


def test_bench_without_memory_for_the_temporaries_is_one_line_and_exit_1(tmp_path):
    save_scheme(fastmm.strassen(), tmp_path / "strassen.json")
    r = _run_limited(tmp_path, f"""
        from fastmm.cli import main
        main(["bench", {str(tmp_path / "strassen.json")!r}, "--size", "2048", "--repeat", "1",
              "--output", "reuse"])
    """)
    assert (r.returncode, r.stderr) == (1, f"error: {NO_TEMPORARIES}\n")


def test_the_out_of_memory_error_is_in_the_documented_tree():
    assert issubclass(OutOfMemoryError, FastmmError) and issubclass(OutOfMemoryError, MemoryError)
    assert not issubclass(OutOfMemoryError, InputError)
    assert OutOfMemoryError("x").exit_code == 1
    assert "OutOfMemoryError" in sys.modules["fastmm.errors"].__doc__


# -- messages name the flag typed --------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "4097"], "--workers 4097 is above the limit of 4096"),
    (["--workers", "0"], "--workers must be a positive integer, got 0"),
])
def test_search_names_the_workers_flag(args, message):
    r = run_cli("search", "2", "2", "2", "--rank", "7", *args)
    assert (r.rc, r.err) == (2, f"error: {message}\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--max-denominator", "0"], "--max-denominator must be a positive integer, got 0"),
    (["--max-denominator", "1" + "0" * 22], "--max-denominator 10000000000000000000000 is above the "
                                            "limit of 1000000"),
    (["--frames", "51"], "--frames 51 is above the limit of 50"),
    (["--trials", "0"], "--trials must be a positive integer, got 0"),
    (["--point", "0"], "--point must be a positive integer, got 0"),
])
def test_finish_names_its_flags(tmp_path, args, message):
    r = run_cli("finish", POINTS, *args, "-o", tmp_path / "f.json")
    assert (r.rc, r.err) == (2, f"error: {message}\n")
    assert list(tmp_path.iterdir()) == []


def test_the_library_keeps_naming_its_arguments():
    with pytest.raises(InputError) as exc:
        fastmm.finish(POINTS, max_denominator=0)
    assert str(exc.value) == "max_denominator must be a positive integer, got 0"
    with pytest.raises(InputError) as exc:
        api.SearchRequest((2, 2, 2), 7, workers=4097)
    assert str(exc.value) == "workers = 4097 is above the limit of 4096"


# -- ring choices shown upper-case, typed in any case --------------------------------------------

def test_ring_choices_are_shown_as_the_field_writes_them():
    search_help = run_cli("search", "--help").out
    assert "--ring [ZT|Z|Z2|Q]" in search_help and "[default: ZT]" in search_help
    assert "zt|" not in search_help
    assert "--ring [Q|Z|ZT]" in run_cli("finish", "--help").out
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--ring", "x")
    assert r.rc == 2
    assert r.err == ("error: Invalid value for '--ring': 'x' is not one of 'ZT', 'Z', 'Z2', 'Q'. "
                     "(see: fastmm search --help)\n")


@pytest.mark.parametrize("typed", ["z2", "Z2"])
def test_ring_choices_are_still_typed_in_any_case(typed):
    assert UpperChoice(["ZT", "Z", "Z2", "Q"]).convert(typed, None, None) == "Z2"


# -- a search stopped while walking from its start ---------------------------------------------

def _padded(n: int) -> Scheme:
    """The naive ⟨n,n,n⟩ scheme and two terms that cancel: rank n³ + 2, above the naive one."""
    s = naive_scheme(n, n, n)
    wa = np.vstack([s.Wa, s.Wa[:1], s.Wa[:1]])
    wb = np.vstack([s.Wb, s.Wb[:1], s.Wb[:1]])
    wc = np.hstack([s.Wc, s.Wc[:, :1], -s.Wc[:, :1]])
    return fastmm.verified(Scheme(n, n, n, wa, wb, wc, ring="ZT"), sympy=False)


def test_a_search_stopped_at_its_naive_start_says_the_start_is_the_best_rank_reached():
    start = fastmm.verified(naive_scheme(4, 4, 4), sympy=False)
    with pytest.raises(SearchFailed) as exc:
        fastmm.search((4, 4, 4), 16, time_limit=0.01, options={"start": start})
    assert exc.value.best is None  # no copy of the start is handed out
    assert str(exc.value).startswith("no ⟨4,4,4⟩ scheme of rank 16 over ZT within 0.01 s; "
                                     "best rank reached 64 (the start's)")


def test_the_command_line_says_it_too(tmp_path):
    save_scheme(fastmm.verified(naive_scheme(4, 4, 4), sympy=False), tmp_path / "naive.json")
    r = run_cli("search", "4", "4", "4", "--rank", "16", "--start", tmp_path / "naive.json",
                "--time-limit", "0.01", "-q", "-o", tmp_path / "out.json")
    assert r.rc == 1
    assert r.err.startswith("error: no ⟨4,4,4⟩ scheme of rank 16 over ZT within 0.01 s; "
                            "best rank reached 64 (the start's)")
    assert r.err.count("\n") == 1
    # a walk that got one flip in may also leave a lower GF(2) scheme (4x4x4-rank63-Z2.json); the
    # start itself is never copied
    assert {p.name for p in tmp_path.iterdir() if not p.name.endswith("-Z2.json")} == {"naive.json"}


def test_a_start_above_the_naive_rank_walked_down_is_handed_out():
    # the walk drops the cancelling pair at once (218 -> 216, the naive rank); going further
    # takes a ⟨6,6,6⟩ flip walk far longer than the limit
    with pytest.raises(SearchFailed) as exc:
        fastmm.search((6, 6, 6), 36, method="flip", time_limit=2, sympy=False,
                      options={"start": _padded(6)})
    best = exc.value.best
    assert best is not None and best.rank < 218
    assert f"; best rank reached {best.rank};" in str(exc.value)
    assert "(the start's)" not in str(exc.value)

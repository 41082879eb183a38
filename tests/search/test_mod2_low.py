"""A search over ZT that walks to a GF(2) scheme it cannot lift keeps that scheme without
`--resume` too: the walk's outcome carries it (`mod2`), the library's SearchFailed hands it out
verified modulo 2, and the command line writes it beside the best-so-far file."""

from pathlib import Path

import pytest
from click.testing import CliRunner

import fastmm
from fastmm.cli import cli
from fastmm.errors import SearchFailed
from fastmm.io import load_scheme
from fastmm.scheme import naive_scheme
from fastmm.search import flip, pool
from fastmm.search.base import SearchTask
from fastmm.search.checkpoint import BestSaver
from fastmm.search.lift import Rescue
from fastmm.verify import verify

NO_LIFT = Path(__file__).resolve().parents[1] / "data" / "3x3x3-rank23-Z2-no-lift.json"


@pytest.fixture
def nothing_lifts(monkeypatch):
    """Every lift of the walks fails, as it does for a GF(2) scheme with no ZT scheme above it."""
    monkeypatch.setattr(Rescue, "lift", lambda self, *args, **kwargs: None)


def test_the_saver_keeps_the_low_in_memory_without_a_directory():
    z2 = load_scheme(NO_LIFT)
    saver = BestSaver(None, 3, every=3600.0, gf2=True, lift=lambda s: False)
    saver.offer(z2)
    assert saver.kept is None  # pending: it may still lift
    saver.close()
    assert saver.kept is z2
    assert saver.low(naive_scheme(3, 3, 3)) is z2 and saver.low(None) is z2
    assert saver.low(z2) is None  # a valid best as low: nothing to add
    lifted = BestSaver(None, 3, every=0.0, gf2=True, lift=lambda s: True)
    lifted.offer(z2)
    assert lifted.kept is None  # it lifted: the walk took it as its best
    plain = BestSaver(None, 3, every=0.0)  # a walk's best without --resume: nothing to keep
    plain.offer(z2)
    plain.close()
    assert plain.kept is None and plain.pending is None


@pytest.mark.parametrize("method, shape, rank, options", [
    (flip, (2, 2, 2), 7, {"backend": "python"}),
    (pool, (2, 3, 3), 15, {"exclude_catalog_shapes": [[2, 3, 3]]}),  # from ⟨2,2,3;11⟩ ⊕ ⟨2,1,3;6⟩
])
def test_a_walk_that_cannot_lift_returns_its_gf2_low(nothing_lifts, method, shape, rank, options):
    task = SearchTask(*shape, rank=rank, ring="ZT", seed=0, time_limit=120, options=options)
    seen = []  # stop once progress shows the target reached modulo 2 (a loaded machine walks slowly)
    out = method.run(task, lambda p: seen.append(f"mod 2 {rank}" in p.note), lambda: any(seen))
    assert out.scheme is None
    assert out.mod2 is not None and out.mod2.rank == rank
    assert out.best is None or out.best.rank > rank
    assert verify(out.mod2.with_meta(ring="Z2"), use_sympy=False).ok
    assert not verify(out.mod2.with_meta(ring="ZT"), use_sympy=False).ok  # not valid over the integers


def test_over_z2_there_is_no_separate_low(nothing_lifts):
    task = SearchTask(2, 2, 2, rank=6, ring="Z2", seed=0, time_limit=120, options={"backend": "python"})
    seen = []
    out = flip.run(task, lambda p: seen.append(p.rank == 7), lambda: any(seen))
    assert out.mod2 is None and out.best.rank == 7


def test_the_library_hands_out_the_low_verified_modulo_2(nothing_lifts):
    with pytest.raises(SearchFailed) as failed:
        fastmm.search((2, 2, 2), 7, method="flip", time_limit=3.0, sympy=False, options={"backend": "python"})
    low = failed.value.mod2
    assert low.ring == "Z2" and low.rank == 7 and low.verified
    assert low.provenance["method"] == "gf2-low" and "fastmm lift" in low.provenance["status"]
    assert "rank 7 valid modulo 2 only, which did not lift" in str(failed.value)


def test_the_command_line_writes_the_low_beside_the_best(nothing_lifts, tmp_path):
    out = tmp_path / "best.json"
    result = CliRunner().invoke(cli, ["search", "2", "2", "2", "--rank", "7", "--method", "flip",
                                      "--time-limit", "3", "--option", "backend=python", "--no-sympy",
                                      "-q", "-o", str(out)], standalone_mode=False)
    assert result.return_value == 1, result.output
    kept = load_scheme(tmp_path / "2x2x2-rank7-Z2.json")
    assert kept.ring == "Z2" and verify(kept, use_sympy=False).ok
    assert "the modulo-2 scheme is in" in result.output and "2x2x2-rank7-Z2.json" in result.output
    assert "fastmm lift tries harder" in result.output


def test_with_resume_the_checkpoint_keeps_it_and_nothing_is_written_twice(nothing_lifts, tmp_path):
    result = CliRunner().invoke(cli, ["search", "2", "2", "2", "--rank", "7", "--method", "flip",
                                      "--time-limit", "3", "--option", "backend=python", "--no-sympy",
                                      "-q", "--resume", str(tmp_path / "ck"), "-o", str(tmp_path / "b.json")],
                             standalone_mode=False)
    assert result.return_value == 1, result.output
    assert load_scheme(tmp_path / "ck" / "gf2-seed0.json").rank == 7
    assert not (tmp_path / "2x2x2-rank7-Z2.json").exists()
    assert "rank 7 valid modulo 2 only, which did not lift" in result.output
    assert "(it keeps the modulo-2 scheme: " in result.output and "gf2-seed0.json" in result.output


def test_a_resumed_search_still_hands_out_the_kept_low(nothing_lifts, tmp_path):
    ck = tmp_path / "ck"
    for run in range(2):  # the second walks on from the kept GF(2) scheme, below nothing new
        with pytest.raises(SearchFailed) as failed:
            fastmm.search((2, 2, 2), 7, method="flip", time_limit=3, sympy=False, resume=ck,
                          options={"backend": "python"})
        low = failed.value.mod2
        assert low is not None and low.rank == 7 and low.ring == "Z2" and low.verified, run
        assert "rank 7 valid modulo 2 only" in str(failed.value)
    assert low.provenance["seed"] == 0  # the file the first run's seed 0 kept


def test_the_low_says_where_it_came_from(nothing_lifts):
    with pytest.raises(SearchFailed) as failed:
        fastmm.search((2, 2, 2), 7, method="flip", seed=5, time_limit=3.0, sympy=False,
                      options={"backend": "python"}, command="fastmm search 2 2 2 --rank 7")
    prov = failed.value.mod2.provenance
    assert prov["seed"] == 5 and prov["search_method"] == "flip" and prov["seconds"] > 0
    assert prov["command"] == "fastmm search 2 2 2 --rank 7"


def test_a_symmetric_walk_that_cannot_lift_returns_its_gf2_low(monkeypatch, tmp_path):
    import time

    from fastmm.search import symmetric

    monkeypatch.setattr(symmetric, "lift", lambda *args, **kwargs: None)
    t0 = time.monotonic()
    task = SearchTask(3, 3, 3, rank=23, ring="ZT", seed=0, options={
        "group": "c3", "backend": "python", "checkpoint_dir": str(tmp_path)})
    seen = []  # stop once progress shows a GF(2) rank below the valid one (or after 120 s)
    out = symmetric.run(task, lambda p: seen.append("mod 2" in p.note),
                        lambda: any(seen) or time.monotonic() - t0 > 120)
    assert out.scheme is None and out.best.rank == 27  # nothing lifted: the naive scheme
    assert out.mod2 is not None and out.mod2.rank <= 26
    assert verify(out.mod2.with_meta(ring="Z2"), use_sympy=False).ok
    kept = load_scheme(tmp_path / "gf2-seed0.json")  # and on disk, for --resume
    assert kept.ring == "Z2" and kept.rank == out.mod2.rank

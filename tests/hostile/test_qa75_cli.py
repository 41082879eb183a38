"""What a command's help promises is what it does (helper-75's audit of every --help)."""

from __future__ import annotations

import hashlib
import json

import pytest

import fastmm
from fastmm.errors import InputError
from fastmm.io import dumps
from fastmm.paths import check_output_path
from fastmm.reference import strassen
from tests.hostile.contract import assert_clean, run_cli


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_a_search_never_writes_over_its_start_file(tmp_path):
    start = tmp_path / "start.json"
    start.write_text(dumps(strassen()))
    before = _md5(start)
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--start", start, "--method", "flip",
                "--time-limit", "3", "-q", "--no-sympy", "-o", start)
    assert_clean(r, allowed=(2,))
    assert f"is the input file {start}" in r.err
    assert _md5(start) == before


def test_a_search_with_distinct_never_writes_its_start_as_a_sibling(tmp_path):
    start = tmp_path / "s-2.json"
    start.write_text(dumps(strassen()))
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--start", start, "--method", "flip",
                "--distinct", "2", "--time-limit", "3", "-q", "--no-sympy", "-o", tmp_path / "s.json")
    assert_clean(r, allowed=(2,))
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("command", [
    ("search", "2", "2", "2", "--rank", "7", "-q", "--no-sympy"),
    ("lift", "{z2}", "--time-limit", "3"),
])
def test_dash_is_not_a_file_name_where_a_command_only_writes_files(tmp_path, monkeypatch, command):
    """export, import and combine print with -o -; search and lift wrote a file named '-'."""
    monkeypatch.chdir(tmp_path)
    z2 = tmp_path / "z2.json"
    z2.write_text(dumps(strassen().with_meta(ring="Z2")))
    r = run_cli(*(a.format(z2=z2) for a in command), "-o", "-")
    assert_clean(r, allowed=(2,))
    assert "output -: this writes a file, not standard output" in r.err
    assert not (tmp_path / "-").exists()


def test_dash_prints_where_the_help_says_so(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(dumps(strassen()))
    r = run_cli("export", path, "--to", "text", "-o", "-")
    assert r.rc == 0 and "M1 = " in r.out
    r = run_cli("combine", "kron", path, path, "-o", "-", "--no-sympy")
    assert r.rc == 0 and json.loads(r.out)["rank"] == 49


def test_the_library_refuses_dash_too_and_takes_a_file_named_dash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="save -: this writes a file, not standard output"):
        fastmm.save(strassen(), "-")
    assert check_output_path("./-") == (tmp_path / "-").resolve()


def test_search_start_that_fails_verification_exits_1_as_readme_says(tmp_path):
    s = strassen()
    wa = s.Wa.copy()
    wa[0, 0] = 1 - wa[0, 0]
    bad = tmp_path / "bad.json"
    bad.write_text(dumps(fastmm.Scheme(2, 2, 2, wa, s.Wb, s.Wc)))
    r = run_cli("search", "2", "2", "2", "--rank", "7", "--start", bad, "--method", "flip",
                "--time-limit", "3", "-q", "-o", tmp_path / "out.json")
    assert_clean(r, allowed=(1,))
    assert "bad.json: ⟨2,2,2;7⟩ fails verification" in r.err
    with pytest.raises(InputError):  # still an InputError for library users
        fastmm.load_verified(bad)


@pytest.mark.parametrize("command,promise", [
    (("site",), "$FASTMM_CATALOG when set, else the shipped catalogue"),
    (("train",), "runs/<model>-r<R>-p<tile>"),
    (("bench",), "torch.matmul with --impl torch"),
    (("count",), "against 1.8166e9"),
    (("export",), "replacing an existing file"),
    (("combine",), "an existing file is replaced"),
])
def test_help_texts_say_what_the_commands_do(command, promise):
    r = run_cli(*command, "--help")
    assert r.rc == 0
    assert promise in " ".join(r.out.split())


def test_a_train_subset_larger_than_the_data_says_so(tmp_path, capsys):
    from fastmm.nn import train as T
    from tests.nn.test_data import write_idx_dataset

    write_idx_dataset(tmp_path / "fm", n_train=16, n_test=8)
    T.train(T.TrainConfig(dataset="fashion-mnist", data_dir=str(tmp_path / "fm"), stages="full", epochs=1,
                          train_subset=100, out=str(tmp_path / "run"),
                          model="resnet8", width=0.25, batch_size=16, eval_batch_size=64, threads=1))
    err = capsys.readouterr().err
    assert "note: --train-subset 100: fashion-mnist has 16 training images; training on all of them" in err

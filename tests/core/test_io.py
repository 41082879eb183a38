"""Scheme files: round trips, strict parsing, atomic writes."""

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fastmm.errors import SchemeFormatError
from fastmm.io import dumps, foreign_format_guess, load_scheme, loads, save_scheme, scheme_to_dict
from fastmm.reference import laderman, strassen
from fastmm.scheme import Scheme


def test_round_trip_keeps_scheme_identical(tmp_path):
    for s in (strassen(), laderman(), strassen().kron(strassen())):
        path = tmp_path / "s.json"
        save_scheme(s, path)
        back = load_scheme(path)
        assert back == s and back.rank == s.rank and back.ring == s.ring


def test_fractions_are_written_as_strings_and_read_back():
    s = Scheme(1, 1, 1, [[2]], [[Fraction(1, 2)]], [[1]])
    d = scheme_to_dict(s)
    assert d["Wb"] == [["1/2"]] and d["ring"] == "Q"
    assert loads(dumps(s)) == s


def test_file_layout_follows_design():
    d = json.loads(dumps(strassen()))
    assert d["format"] == "fastmm.scheme" and d["version"] == 1
    assert d["shape"] == [2, 2, 2] and d["rank"] == 7 and d["ring"] == "ZT"
    assert d["Wa"][0] == [1, 0, 0, 1]  # M1 = (A11 + A22)·(B11 + B22)
    assert len(d["Wc"]) == 4 and len(d["Wc"][0]) == 7


def _base() -> dict:
    return json.loads(dumps(strassen()))


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d.update(shape=[2, 2]), "shape must be a list"),
        (lambda d: d.update(shape=[2, 0, 2]), "shape[1] must be a positive integer"),
        (lambda d: d.update(shape=[2, 2, 1000]), "exceeds the supported limit"),
        (lambda d: d.update(rank=8), "Wa has 7 rows, expected 8"),
        (lambda d: d["Wa"][2].pop(), "Wa[2] has 3 entries, expected 4"),
        (lambda d: d["Wc"].pop(), "Wc has 3 rows, expected 4"),
        (lambda d: d["Wb"][0].__setitem__(1, "x"), "is not an integer or p/q fraction"),
        (lambda d: d["Wb"][0].__setitem__(1, "1); system(\"rm -rf /\"); ("), "not an integer or p/q"),
        (lambda d: d["Wb"][0].__setitem__(1, 0.5), "is not exact"),
        (lambda d: d["Wb"][0].__setitem__(1, True), "is not a number"),
        (lambda d: d["Wb"][0].__setitem__(1, None), "is not a number"),
        (lambda d: d["Wb"][0].__setitem__(1, "1/0"), "divides by zero"),
        (lambda d: d.update(ring="R"), "ring 'R' is not one of"),
        (lambda d: d.update(format="other"), "format is 'other'"),
        (lambda d: d.update(version=7), "version 7 is not supported"),
        (lambda d: d.update(version=True), "version True is not supported"),
        (lambda d: d.update(version=1.0), "version 1.0 is not supported"),
        (lambda d: d.pop("Wa"), "field 'Wa' is missing"),
    ],
)
def test_malformed_files_are_rejected_with_one_line(tmp_path, mutate, message):
    d = _base()
    mutate(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(SchemeFormatError) as err:
        load_scheme(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_and_non_json_files(tmp_path):
    text = dumps(strassen())
    (tmp_path / "t.json").write_text(text[: len(text) // 2])
    with pytest.raises(SchemeFormatError, match="not valid JSON"):
        load_scheme(tmp_path / "t.json")
    (tmp_path / "b.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SchemeFormatError):
        load_scheme(tmp_path / "b.json")
    with pytest.raises(SchemeFormatError, match="no such file"):
        load_scheme(tmp_path / "missing.json")
    with pytest.raises(SchemeFormatError, match="top level must be a JSON object"):
        loads("[1, 2]")


def test_integral_floats_and_fraction_strings_are_accepted():
    d = _base()
    d["Wa"][0] = [1.0, "0", "0/5", "2/2"]
    s = loads(json.dumps(d))
    assert s == strassen()


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    save_scheme(strassen(), path)
    before = path.read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        save_scheme(laderman(), path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_other_tools_json_points_to_import():
    with pytest.raises(SchemeFormatError, match="not a fastmm scheme file.*fastmm import FILE --from"):
        loads(json.dumps({"n": [2, 2, 2], "m": 7, "u": [[1]], "v": [[1]], "w": [[1]]}))


def test_saved_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through a private temporary file; the result must not stay private."""
    import os

    old = os.umask(0o022)
    try:
        path = tmp_path / "s.json"
        save_scheme(strassen(), path)
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o640)  # replacing a file keeps its mode
        save_scheme(laderman(), path)
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_a_z2_label_on_a_scheme_exact_with_its_signs_is_refused():
    """A Z2 label drops the signs on reading; a file that with them is exact over the integers
    was then reported "valid modulo 2 only". Such a label is refused, naming the true ring; a
    Z2 file with signs that is valid modulo 2 only still loads (reduced to 0/1)."""
    data = json.loads(dumps(laderman()))
    data["ring"] = "Z2"
    data.pop("verified", None)
    message = 'ring "Z2" claims validity modulo 2 only, but the scheme as written \\(with its signs\\)'
    with pytest.raises(SchemeFormatError, match=message + ' is exact over ZT: label it "ZT"'):
        loads(json.dumps(data))
    row = data["Wa"][0]
    k = next(i for i, x in enumerate(row) if x)
    row[k] = -row[k]  # the same modulo 2, no longer exact over the integers
    assert any(x < 0 for r in data["Wa"] for x in r)
    s = loads(json.dumps(data))
    assert s.ring == "Z2" and s.Wa.min() == 0 and s.Wa.max() == 1


# -- a foreign file given where a fastmm scheme is read: the error names the importer ---------

FOREIGN = Path(__file__).resolve().parents[1] / "data" / "foreign"


@pytest.mark.parametrize("name, fmt", [("00bc2f83230b.exp", "exp"), ("k108391c6c35ad0c4.exp", "exp"),
                                       ("k108391c6c35ad0c4.m", "maple"), ("455_73.m", "maple")])
def test_a_published_foreign_file_names_its_importer(name, fmt):
    with pytest.raises(SchemeFormatError) as exc:
        load_scheme(FOREIGN / name)
    assert str(exc.value).endswith(f"read it with `fastmm import FILE --from {fmt}`")


def test_npy_npz_and_fast_matmul_files_name_their_importers(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((3, 4, 7), dtype=np.int8))
    np.savez(tmp_path / "f.npz", a=np.zeros(3))
    (tmp_path / "strassen").write_text("1 0 0 1\n0 0 1 1\n#\n1 0 0 1\n")
    for name, fmt in (("f.npy", "alphatensor"), ("f.npz", "alphatensor"), ("strassen", "fast-matmul")):
        with pytest.raises(SchemeFormatError) as exc:
            load_scheme(tmp_path / name)
        assert str(exc.value).endswith(f"`fastmm import FILE --from {fmt}`"), name


def test_broken_json_and_plain_text_get_no_foreign_hint(tmp_path):
    (tmp_path / "broken.json").write_text('{"format": "fastmm.scheme", "shape": [2, 2, 2],')
    (tmp_path / "notes.txt").write_text("my schemes\n(see the catalogue)\n")
    (tmp_path / "bad.json").write_text('{"format": "fastmm.scheme", "version": 1, "shape": [2, 2]}')
    for name in ("broken.json", "notes.txt", "bad.json"):
        with pytest.raises(SchemeFormatError) as exc:
            load_scheme(tmp_path / name)
        assert "fastmm import FILE --from" not in str(exc.value), name
    assert foreign_format_guess(tmp_path / "notes.txt") is None
    assert foreign_format_guess(tmp_path) is None  # a folder

"""Every option a walk method reads is one the request accepts, and no other passes silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import fastmm
from fastmm.errors import InputError
from fastmm.search.base import WALK_OPTIONS

SEARCH = Path(fastmm.__file__).parent / "search"
READ = re.compile(r"""(?:opts|options)\.get\(\s*["']([a-z_]+)["']""")


@pytest.mark.parametrize("method", sorted(WALK_OPTIONS))
def test_the_lists_hold_every_option_the_code_reads(method):
    read = set(READ.findall((SEARCH / f"{method}.py").read_text()))
    read |= set(READ.findall((SEARCH / "runner.py").read_text()))  # minimize, for every walk
    if method != "symmetric":
        read.add("backend")  # through flip.choose_backend
    assert read, method
    assert read <= WALK_OPTIONS[method], sorted(read - WALK_OPTIONS[method])


@pytest.mark.parametrize("method, options, message", [
    ("pool", {"pool_sise": 4}, "unknown pool option(s): pool_sise"),
    ("flip", {"pool_size": 4}, "unknown flip option(s): pool_size"),
    ("ternary", {"kicks": 1}, "unknown ternary option(s): kicks"),
    ("pool", [("plateau", 5)], "options must be a dict"),
    ("pool", {"plateau": "abc"}, "pool option plateau must be a whole number ≥ 1, got 'abc'"),
    ("pool", {"plateau": float("nan")}, "plateau must be a whole number ≥ 1, got nan"),
    ("pool", {"chunk": 0}, "chunk must be a whole number ≥ 1, got 0"),
    ("flip", {"kicks": 2.5}, "kicks must be a whole number ≥ 0"),
    ("flip", {"plateau": True}, "plateau must be a whole number"),
    ("pool", {"plateau": 10**30}, "plateau must be a whole number"),
    ("pool", {"meta": 2}, "meta must be a number in [0, 1]"),
    ("pool", {"liftable_pools": "maybe"}, "liftable_pools must be true or false"),
    ("pool", {"walk": "z3"}, "pool option walk must be gf2 or ternary, got 'z3'"),
    ("ternary", {"walk": "ternary"}, "unknown ternary option(s): walk"),
    ("pool", {"exclude_catalog_shapes": "abc"}, "must be a list of shapes [n, m, p]"),
    ("flip", {"minimize": "additions", "minimize_seconds": -1}, "must be a positive number"),
    ("pool", {"checkpoint_dir": 5}, "options: checkpoint_dir is set by resume=DIR (--resume DIR), not given"),
])
def test_an_option_the_method_would_not_read_is_refused(method, options, message):
    with pytest.raises(InputError, match=re.escape(message)):
        fastmm.search((3, 3, 3), 23, method=method, options=options, time_limit=5)


def test_known_options_still_run():
    s = fastmm.search((2, 2, 3), 11, method="flip", options={"plateau": 5000, "backend": "python"},
                      time_limit=60, sympy=False)
    assert s.rank == 11 and fastmm.verify(s, sympy=False)


def test_device_names_take_any_case_and_an_empty_one_is_refused(tmp_path, capsys):
    """--device CPU was refused while --ring takes any case; --device '' was silently ignored."""
    from fastmm.cli import main

    out = tmp_path / "s.json"
    with pytest.raises(SystemExit) as exc:
        main(["search", "2", "2", "2", "--rank", "7", "--method", "als", "--device", "CPU",
              "--time-limit", "30", "-q", "--no-sympy", "-o", str(out)])
    assert exc.value.code == 0 and out.exists()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["search", "2", "2", "2", "--rank", "7", "--method", "als", "--device", "", "-q"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == "error: device (--device) must be cpu or cuda, got '' (str)"


@pytest.mark.parametrize("method, flags", [("flip", "--device, --minimize, --start"),
                                           ("als", "--batch, --device, --save-fitted")])
def test_the_command_line_names_flags_not_options_it_refuses(method, flags, capsys):
    """QA-117: the list of known options offered device, start, batch...: names --option refuses
    ("use --device instead"); the command line names them as their flags."""
    from fastmm.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["search", "2", "2", "2", "--rank", "7", "--method", method, "--option", "bogus=1", "-q"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith(f"error: unknown {method} option(s): bogus (known: ")
    listed = err.split("(known: ")[1].split(";")[0].split(", ")
    assert not {"device", "start", "minimize", "batch", "save_fitted"} & set(listed)
    assert err.endswith(f"; and the flags {flags})")

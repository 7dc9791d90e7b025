"""inferplan._validate: the shared checks behind the loaders and the command line."""

from __future__ import annotations

import argparse
import doctest
import math
import re

import pytest

from inferplan import _validate as v


def test_module_examples():
    result = doctest.testmod(v)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("value", "rules", "message"),
    [
        (-2, dict(minimum=0), "x must be >= 0, got -2"),
        (0, dict(above=0), "x must be > 0, got 0"),
        (1.0, dict(below=1), "x must be < 1, got 1.0"),
        (2**31, dict(maximum=v.MAX_COUNT), "x must be at most 2147483647, got 2147483648"),
        (1e30, dict(maximum=1e20), "x must be at most 1e+20, got 1e+30"),
        (math.nan, {}, "x must be a number (not NaN), got nan"),
        (math.inf, {}, "x must be finite, got inf"),
        ("abc", {}, "x must be a number, got 'abc'"),
        (True, {}, "x must be a number, got True"),
        (None, {}, "x must be a number, got None"),
        (1.5, dict(integer=True), "x must be an integer, got 1.5"),
        (math.inf, dict(integer=True, allow_inf=True), "x must be an integer, got inf"),
    ],
)
def test_number_refuses_with_the_name_and_value(value, rules, message):
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        v.number(value, "x", **rules)
    assert str(err.value) == message
    with pytest.raises(ValueError, match=re.escape(message[1:])) as err:
        v.number(value, "field 'x'", where="f.json: servers[2] ('a')", **rules)
    assert str(err.value) == "f.json: servers[2] ('a'): field 'x'" + message[1:]


def test_number_accepts_and_converts():
    assert v.number("2.5", "x", minimum=0) == 2.5
    assert v.count(4.0, "n") == 4
    assert isinstance(v.count(4.0, "n"), int)
    assert v.count(10**9, "n") == 10**9
    assert v.number(math.inf, "q", allow_inf=True) == math.inf
    assert v.fraction(0.5, "q") == 0.5

    class Mine(ValueError):
        pass

    with pytest.raises(Mine):
        v.number(-1, "x", minimum=0, error=Mine)


def test_argparse_types():
    p = argparse.ArgumentParser(exit_on_error=False)
    p.add_argument("--z", type=v.option(minimum=0))
    p.add_argument("--n", type=v.option(integer=True, minimum=1))
    p.add_argument("--rates", type=v.number_list(minimum=0))
    p.add_argument("--pct", type=v.percentile_option)
    ns = p.parse_args(["--z", "2", "--n", "3", "--rates", "0.5,1", "--pct", "0.9:200"])
    assert (ns.z, ns.n, ns.rates, ns.pct) == (2.0, 3, [0.5, 1.0], (0.9, 200.0))
    for args, text in (
        (["--z", "-1"], "must be >= 0, got '-1'"),
        (["--n", "0"], "must be >= 1, got '0'"),
        (["--rates", "1,nan"], "(in '1,nan')"),
        (["--pct", "2:200"], "the quantile must be < 1"),
    ):
        with pytest.raises(argparse.ArgumentError, match=re.escape(text)):
            p.parse_args(args)


def test_paths(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    assert v.input_file(f) == f
    with pytest.raises(ValueError, match="no such file"):
        v.input_file(tmp_path / "b")
    with pytest.raises(ValueError, match="is a directory"):
        v.input_file(tmp_path)
    assert v.output_file(tmp_path / "new.json") == tmp_path / "new.json"
    with pytest.raises(ValueError, match=r"--out .* is a directory"):
        v.output_file(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        v.output_file(tmp_path / "no" / "x.json")
    assert v.output_dir(tmp_path / "d" / "e") == tmp_path / "d" / "e"
    with pytest.raises(ValueError, match="is a file"):
        v.output_dir(f)
    with pytest.raises(ValueError, match="has a file"):
        v.output_dir(f / "sub")


def test_an_unknown_kind_in_a_batch_call_is_named_plainly():
    """NumPy text cells were shown as np.str_('bogus') in the message."""
    import numpy as np

    import inferplan

    with pytest.raises(ValueError, match=re.escape("kind[1] must be") + ".*got 'bogus'$"):
        inferplan.size_many(kind=np.array(["decode_only", "bogus"]), alpha=19, beta=1,
                            out_tokens=1024, max_batch=48, itl_ms=50)  # fmt: skip

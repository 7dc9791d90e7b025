"""Input checks shared by the loaders and the command line.

Every check returns the cleaned value or raises ``error`` (``ValueError`` unless a caller
passes its own subclass, e.g. the fleet loader's ``DataError``) with a message that names
where the value came from, the field and the value::

    >>> from inferplan import _validate
    >>> _validate.number(-2, "field 'cost'", where="acc.json: accelerators[0]", minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: acc.json: accelerators[0]: field 'cost' must be >= 0, got -2

:func:`option` turns the same rules into an ``argparse`` type, so that a bad command-line
value is one line naming the option (``argument --headroom: must be >= 0, got '-2'``).
"""

from __future__ import annotations

import argparse
import math
import operator
import os
from pathlib import Path
from typing import Any

# Largest max_batch any entry point accepts (the kernels' limit, see Status.BAD_MAX_BATCH).
MAX_BATCH = 1 << 24
# Largest count (replicas, cards, minNumReplicas ...) a data file may give: int32, as the
# reference's data format.
MAX_COUNT = 2**31 - 1
# Largest integer a float holds exactly: token counts and timestamps beyond it are rejected.
MAX_EXACT = float(2**53)

_NOT_GIVEN: Any = object()


def _g(x: float) -> str:
    """Return a bound as people write it: 2147483647, 16777216, 0.5, 1e+20."""
    if float(x).is_integer() and abs(x) < 1e16:
        return str(int(x))
    return f"{x:g}"


def _prefix(where: str | None) -> str:
    return f"{where}: " if where else ""


def number(
    value: Any,
    name: str,
    *,
    where: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    integer: bool = False,
    allow_inf: bool = False,
    error: type[ValueError] = ValueError,
) -> Any:
    """``value`` as a float (an int with ``integer=True``), checked against the bounds.

    ``minimum``/``maximum`` are inclusive, ``above``/``below`` exclusive. Booleans, text
    and NaN are refused; infinity only with ``allow_inf`` (and then never as an integer).
    """
    pre = _prefix(where)

    def fail(rule: str) -> ValueError:
        return error(f"{pre}{name} {rule}, got {value!r}")

    if isinstance(value, bool) or value is None:
        raise fail("must be a number")
    if isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            raise fail("must be a number") from None
    else:
        try:
            x = float(value)
        except (TypeError, ValueError, OverflowError):
            raise fail("must be a number") from None
    if math.isnan(x):
        raise fail("must be a number (not NaN)")
    if math.isinf(x) and not allow_inf:
        raise fail("must be finite")
    if minimum is not None and x < minimum:
        raise fail(f"must be >= {_g(minimum)}")
    if above is not None and x <= above:
        raise fail(f"must be > {_g(above)}")
    if maximum is not None and x > maximum:
        raise fail(f"must be at most {_g(maximum)}")
    if below is not None and x >= below:
        raise fail(f"must be < {_g(below)}")
    if integer:
        if math.isinf(x) or not x.is_integer():
            raise fail("must be an integer")
        try:
            return operator.index(value)
        except TypeError:
            return int(x)
    return x


def count(
    value: Any,
    name: str,
    *,
    where: str | None = None,
    minimum: int = 0,
    maximum: int = MAX_COUNT,
    error: type[ValueError] = ValueError,
) -> int:
    """Return an integer in ``[minimum, maximum]`` (an integral float such as 4.0 is accepted)."""
    return number(
        value, name, where=where, minimum=minimum, maximum=maximum, integer=True, error=error
    )


def fraction(
    value: Any, name: str, *, where: str | None = None, error: type[ValueError] = ValueError
) -> float:
    """Return a number strictly between 0 and 1."""
    return number(value, name, where=where, above=0.0, below=1.0, error=error)


MAX_CV = 100.0
"""Largest coefficient of variation (arrival gaps, lengths) any entry point accepts."""


def cv(
    value: Any,
    name: str = "arrival_cv",
    *,
    where: str | None = None,
    error: type[ValueError] = ValueError,
) -> float:
    """Return ``value`` checked as a coefficient of variation: finite, in ``[0, MAX_CV]``.

    Text is refused: ``"2"`` is not a CV of 2 in an API call; the command line parses its own
    text.
    """
    if isinstance(value, (str, bytes)):
        raise error(f"{_prefix(where)}{name} must be a number, got {value!r}")
    return number(value, name, where=where, minimum=0.0, maximum=MAX_CV, error=error)


def choice(
    value: Any,
    name: str,
    choices,
    *,
    where: str | None = None,
    error: type[ValueError] = ValueError,
) -> Any:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise error(f"{_prefix(where)}{name} must be one of {listed}, got {value!r}")
    return value


def option(**rules: Any):
    """Return an ``argparse`` ``type=`` for a number checked with :func:`number`'s ``rules``.

    For example ``minimum=0``, ``above=0``, ``integer=True``, ``maximum=...``,
    ``allow_inf=True``.

    argparse prefixes the message with the option: ``argument --z: must be finite, got 'nan'``.
    """

    def parse(text: str):
        try:
            return number(text, "", **rules)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).strip()) from None

    parse.__name__ = "integer" if rules.get("integer") else "number"
    return parse


def percentile_option(text: str) -> tuple[float, float]:
    """``Q:MS`` (e.g. ``0.9:2000``): the Q-quantile must be at most MS milliseconds."""
    q, sep, ms = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected QUANTILE:MS such as 0.9:2000, got {text!r}")
    try:
        return (
            number(q, "the quantile", above=0.0, below=1.0),
            number(ms, "the milliseconds", above=0.0),
        )
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err} (in {text!r})") from None


def number_list(**rules: Any):
    """Return an ``argparse`` type for comma-separated numbers, each checked with ``rules``."""

    def parse(text: str) -> list:
        items = text.split(",")
        if not text.strip() or any(not x.strip() for x in items):  # "1,,2": a value lost
            raise argparse.ArgumentTypeError(
                f"expected comma-separated numbers (none empty), got {text!r}"
            )
        out = []
        for x in items:
            try:
                out.append(number(x, "", **rules))
            except ValueError as err:
                raise argparse.ArgumentTypeError(f"{str(err).strip()} (in {text!r})") from None
        return out

    parse.__name__ = "numbers"
    return parse


def input_file(path: str | os.PathLike, name: str = "input") -> Path:
    """``path`` if it is a readable regular file, else ValueError naming it."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{name} {str(p)!r}: no such file")
    if p.is_dir():
        raise ValueError(f"{name} {str(p)!r} is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise ValueError(f"{name} {str(p)!r}: permission denied")
    return p


def output_file(path: str | os.PathLike, name: str = "--out") -> Path:
    """Return ``path`` if a file can be written there, else raise ValueError.

    Its directory exists and it is not itself a directory. Checked before any work, so that
    a typo does not waste a long run.
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{name} {str(p)!r} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"{name} {str(p)!r}: directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise ValueError(f"{name} {str(p)!r}: {str(parent)!r} is not a directory")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{name} {str(p)!r}: directory {str(parent)!r} is not writable")
    return p


def output_dir(path: str | os.PathLike, name: str = "--out") -> Path:
    """``path`` if it is a directory or can be made one (no regular file is in the way)."""
    p = Path(path)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                what = "is a file" if q == p else f"has a file {str(q)!r} in its path"
                raise ValueError(f"{name} {str(p)!r} {what}; give a directory")
            if not os.access(q, os.W_OK):
                raise ValueError(f"{name} {str(p)!r}: {str(q)!r} is not writable")
            break
    return p

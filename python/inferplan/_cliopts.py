"""Command-line options that several commands share, defined once (docs/reference.md).

Every command spells the same thing the same way: ``--format`` for what goes to stdout,
``--out``/``-o`` for a file written, ``--threads`` for kernel threads, ``--admission`` for
the TTFT/wait rule. A former spelling (``simulate --json``, ``calibrate --json``,
``sweep-summary --csv``, ``profile --output``) stays as a deprecated alias: it still works,
says once on stderr what to type instead, and is marked deprecated in ``--help``.

Imports only argparse and the validators, so that building a parser stays cheap.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ._validate import option

__all__ = [
    "ADMISSION_CHOICES",
    "DeprecatedAlias",
    "add_admission",
    "add_format",
    "add_out",
    "add_threads",
]

ADMISSION_CHOICES = ("chain", "immediate", "iteration")


class DeprecatedAlias(argparse.Action):
    """A former spelling of an option.

    Stores ``const`` (a flag) or its value into ``dest`` and says on stderr which spelling
    replaces it.
    """

    def __init__(self, option_strings, dest, *, replacement: str, const: Any = None, **kw):
        self.replacement = replacement
        nargs = 0 if const is not None else None
        help_text = kw.pop("help", None) or f"deprecated: use {replacement}"
        super().__init__(option_strings, dest, nargs=nargs, const=const, help=help_text, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"{parser.prog}: warning: {option_string} is deprecated; use {self.replacement}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def add_format(
    p: argparse.ArgumentParser,
    *,
    choices: Sequence[str] = ("table", "json"),
    default: str | None = "table",
    help: str = "output on stdout",
    flags: Sequence[str] = (),
) -> None:
    """``--format`` (what is printed on stdout).

    ``flags`` are former boolean spellings kept as deprecated aliases (``"json"`` ->
    ``--json`` = ``--format json``).
    """
    p.add_argument("--format", choices=tuple(choices), default=default, help=help)
    for value in flags:
        p.add_argument(
            f"--{value}",
            dest="format",
            action=DeprecatedAlias,
            const=value,
            replacement=f"--format {value}",
        )


def add_out(
    p: argparse.ArgumentParser,
    help: str,
    *,
    default: str | None = None,
    short: bool = True,
    metavar: str | None = None,
    required: bool = False,
    former: str | None = None,
) -> None:
    """``--out`` (and ``-o``).

    The file or directory a command writes; ``former`` a former spelling kept as a
    deprecated alias (e.g. ``--output``).
    """
    flags = ("--out", "-o") if short else ("--out",)
    p.add_argument(*flags, default=default, metavar=metavar, required=required, help=help)
    if former:
        p.add_argument(former, dest="out", action=DeprecatedAlias, replacement="--out")


def add_threads(p: argparse.ArgumentParser, help: str = "kernel threads") -> None:
    """``--threads``: an integer >= 1; None (the default) lets the kernel use every core."""
    p.add_argument(
        "--threads",
        type=option(integer=True, minimum=1),
        default=None,
        help=f"{help} (default: all cores)",
    )


def add_admission(
    p: argparse.ArgumentParser,
    what: str,
    *,
    choices: Sequence[str] = ADMISSION_CHOICES,
    default: str = "chain",
    help: str | None = None,
) -> None:
    """``--admission``: how TTFT and wait are read (docs/accuracy.md)."""
    p.add_argument(
        "--admission",
        choices=tuple(choices),
        default=default,
        help=help
        or f"{what}: chain = the chain's read-off at the mean batch; immediate / iteration "
        "= as an arriving request sees it when it joins at once / at the next iteration "
        "boundary (docs/accuracy.md)",
    )

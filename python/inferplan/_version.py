"""``inferplan.__version__``: one number, written once, in pyproject.toml.

An installed package reads it from its distribution's metadata. A source tree that is
imported directly (``PYTHONPATH=python``) may sit beside an installed copy of another
version, or none: when the imported package is not the installed distribution's, its
version is read from the tree's own ``pyproject.toml``; with neither, it is ``"0+unknown"``
(a PEP 440 local version that sorts below every release).

Loaded on the first look-up of ``inferplan.__version__`` (``import inferplan`` stays light).
"""

from __future__ import annotations

import re
from pathlib import Path

UNKNOWN = "0+unknown"
_PACKAGE = Path(__file__).resolve().parent
_PYPROJECT = _PACKAGE.parents[1] / "pyproject.toml"  # <root>/python/inferplan/_version.py


def _installed() -> str | None:
    """Return the installed distribution's version when it is the package imported here."""
    from importlib import metadata

    try:
        dist = metadata.distribution("inferplan")
    except metadata.PackageNotFoundError:
        return None
    init = Path(str(dist.locate_file("inferplan/__init__.py")))
    try:
        if init.resolve() != _PACKAGE / "__init__.py":
            return None  # another copy (this is a source tree, or an editable install's)
    except OSError:
        return None
    return dist.version


def _source_tree(pyproject: Path = _PYPROJECT) -> str | None:
    """``[project] version`` of the source tree's pyproject.toml, if it is inferplan's."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        import tomllib
    except ImportError:  # Python 3.10: the two keys are plain strings in [project]
        section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        if section is None:
            return None
        found = {
            key: value
            for key, value in re.findall(r'^(name|version)\s*=\s*"([^"]*)"', section[1], re.M)
        }
    else:
        try:
            found = tomllib.loads(text).get("project", {})
        except tomllib.TOMLDecodeError:
            return None
    if found.get("name") != "inferplan" or not isinstance(found.get("version"), str):
        return None
    return found["version"]


def version() -> str:
    """Return the version of the imported ``inferplan`` (see the module's docstring)."""
    found = _installed() or _source_tree()
    if found is None:  # a copy of the package alone: the metadata, if any, is the best guess
        from importlib import metadata

        try:
            found = metadata.version("inferplan")
        except metadata.PackageNotFoundError:
            found = UNKNOWN
    return found


__version__ = version()

"""Start-up in a fresh interpreter.

``import inferplan`` (its names load on first use), the whole ``inferplan optimize`` command
on the reference's g3 small system, and ``import numpy`` (the floor of any process that uses
NumPy).
"""

from . import common


def timeraw_import_inferplan():
    return "import inferplan"


timeraw_import_inferplan.timeout = 120


def timeraw_import_numpy():
    return "import numpy"


timeraw_import_numpy.timeout = 120


def timeraw_optimize_g3_small():
    path = str(common.reference_system_path("small"))
    return f"""
import contextlib, io
from inferplan.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["optimize", {path!r}, "--solver", "greedy", "--format", "json"]) == 0
"""


timeraw_optimize_g3_small.timeout = 120

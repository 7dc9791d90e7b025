r"""The C interface of the kernel, for programs that are not Python, and its cffi bindings.

The package ships a shared library (``lib/libinferplan.so``, ``.dylib`` or ``inferplan.dll``)
and its header (``include/inferplan.h``) next to the Python extension. Both are thin layers
over the same C++ kernel, so the C interface gives the numbers of :class:`inferplan.Replica`
bit for bit. :func:`c_include_dir` and :func:`c_library_path` tell a build where they are::

    cc prog.c -I"$(python -c 'import inferplan; print(inferplan.c_include_dir())')" \
       "$(python -c 'import inferplan; print(inferplan.c_library_path())')"

:func:`load` opens the library with cffi in ABI mode (``ffi.dlopen`` on the absolute path,
so no RPATH or ``LD_LIBRARY_PATH`` is involved) from declarations read out of the installed
header. Its functions can be called from Numba ``@njit`` code once the struct types are
registered with Numba (:func:`load` ``(numba=True)`` does it): bind a function to a global
name, pass NumPy record arrays of the exported dtypes through ``ffi.from_buffer``::

    api = inferplan.capi.load(numba=True)
    ffi, size_params = api.ffi, api.lib.ip_size_params

    @numba.njit
    def sized_rate(service, targets, out):  # 1-element arrays of api.*_dtype
        size_params(ffi.from_buffer(service), 48, 152.0, ffi.from_buffer(targets),
                    ffi.from_buffer(out))
        return out[0].rate

See docs/embedding.md for the C reference and examples in C, Go and Rust.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "CApi",
    "CLibraryNotFoundError",
    "c_include_dir",
    "c_library_path",
    "cdef_source",
    "load",
    "numba_replica_pointer",
    "replica_address",
]

from . import _lazy

__dir__ = _lazy.public_dir(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parent
_HEADER = "inferplan.h"

_HOW_TO_BUILD = (
    "In a source checkout run scripts/dev_build.sh (it places lib/ and include/ inside "
    "python/inferplan/); otherwise reinstall the package from source with "
    "`pip install .` so that the wheel build compiles them."
)


class CLibraryNotFoundError(FileNotFoundError):
    """The C library or its header is not where the package expects it (not built)."""


def _library_name() -> str:
    if sys.platform == "win32":
        return "inferplan.dll"
    if sys.platform == "darwin":
        return "libinferplan.dylib"
    return "libinferplan.so"


def c_include_dir() -> str:
    """Absolute path of the folder that holds ``inferplan.h`` (pass it to ``-I``)."""
    folder = _PACKAGE_DIR / "include"
    if not (folder / _HEADER).is_file():
        raise CLibraryNotFoundError(
            f"the inferplan C header is missing: {folder / _HEADER} does not exist. {_HOW_TO_BUILD}"
        )
    return str(folder)


def c_library_path() -> str:
    """Absolute path of the inferplan shared library (link it, or ``dlopen`` it)."""
    path = _PACKAGE_DIR / "lib" / _library_name()
    if not path.is_file():
        raise CLibraryNotFoundError(
            f"the inferplan C library is missing: {path} does not exist. {_HOW_TO_BUILD}"
        )
    return str(path)


def _header_text() -> str:
    return (Path(c_include_dir()) / _HEADER).read_text(encoding="utf-8")


def cdef_source() -> str:
    """Return the declarations of ``inferplan.h`` in the form ``cffi.FFI.cdef`` accepts.

    The part between its CDEF markers, without comments and the export macro.
    """
    text = _header_text()
    begin = text.index("INFERPLAN_CDEF_BEGIN")
    begin = text.index("*/", begin) + 2
    end = text.index("/* INFERPLAN_CDEF_END")
    body = re.sub(r"/\*.*?\*/", "", text[begin:end], flags=re.S)
    return body.replace("INFERPLAN_API ", "")


def _header_abi_version() -> int:
    match = re.search(r"#define\s+INFERPLAN_ABI_VERSION\s+(\d+)", _header_text())
    if match is None:
        raise RuntimeError("inferplan.h does not define INFERPLAN_ABI_VERSION")
    return int(match.group(1))


def _struct_dtype(ffi: Any, ctype: Any) -> np.dtype:
    """Return the NumPy dtype with the C layout of a cffi struct type (nested structs included)."""
    names, formats, offsets = [], [], []
    for name, field in ctype.fields:
        ftype = field.type
        if ftype.kind == "struct":
            fmt = _struct_dtype(ffi, ftype)
        elif ftype.kind == "primitive":
            fmt = np.dtype(
                {"double": "f8", "int32_t": "i4", "int64_t": "i8"}[ftype.cname]
            ).newbyteorder("=")
        else:
            raise TypeError(f"no NumPy dtype for field {name} of type {ftype.cname}")
        names.append(name)
        formats.append(fmt)
        offsets.append(field.offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": ffi.sizeof(ctype)},
        align=True,
    )


class CApi(NamedTuple):
    """The loaded C library: cffi's ``ffi`` and ``lib``, and NumPy dtypes of its structs.

    ``lib`` has every ``ip_*`` function and ``IP_*`` constant; the dtypes are laid out like
    the header's structs.
    """

    ffi: Any
    lib: Any
    service_dtype: np.dtype
    targets_dtype: np.dtype
    metrics_dtype: np.dtype
    size_result_dtype: np.dtype

    def status_message(self, status: int) -> str:
        """``ip_status_message`` as a Python string."""
        return self.ffi.string(self.lib.ip_status_message(int(status))).decode()

    def version(self) -> str:
        """``ip_version()``: the package version the library was built from."""
        return self.ffi.string(self.lib.ip_version()).decode()


_STRUCTS = ("ip_service", "ip_targets", "ip_metrics", "ip_size_result")


@functools.cache
def _load() -> CApi:
    try:
        import cffi
    except ImportError:
        raise ImportError(
            "inferplan.capi.load needs cffi: pip install 'inferplan[embed]'"
        ) from None
    ffi = cffi.FFI()
    ffi.cdef(cdef_source())
    lib = ffi.dlopen(c_library_path())
    expected = _header_abi_version()
    if lib.ip_abi_version() != expected:
        raise RuntimeError(
            f"{c_library_path()} implements C ABI {lib.ip_abi_version()} but its header "
            f"declares {expected}: rebuild the package"
        )
    dtypes = [_struct_dtype(ffi, ffi.typeof(name)) for name in _STRUCTS]
    return CApi(ffi, lib, *dtypes)


@functools.cache
def _register_numba() -> Any:
    from numba import from_dtype, types
    from numba.core.extending import intrinsic
    from numba.core.typing import cffi_utils

    api = _load()
    for name, dtype in zip(_STRUCTS, api[2:], strict=True):
        # Pointers to these structs then type as pointers to the records of our dtypes,
        # which is what ffi.from_buffer gives for arrays of them in nopython mode.
        cffi_utils.register_type(api.ffi.typeof(name), from_dtype(dtype))
    # The opaque handle: Numba sees ip_replica* as a byte pointer ...
    cffi_utils.register_type(api.ffi.typeof("ip_replica"), types.int8)
    handle_type = types.CPointer(types.int8)

    # ... made in nopython mode from the handle's address (cffi pointers cannot be
    # passed to jitted functions).
    @intrinsic
    def replica_pointer(typingctx, address):
        if not isinstance(address, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(handle_type))

        return handle_type(address), codegen

    return replica_pointer


def replica_address(handle: Any) -> int:
    """Return the address of an ``ip_replica*`` (a cffi pointer) as an int.

    It is for jitted code that turns it back into a handle with the intrinsic of
    :func:`numba_replica_pointer`.
    """
    return int(_load().ffi.cast("uintptr_t", handle))


def numba_replica_pointer() -> Any:
    """Return a Numba intrinsic ``replica_pointer(address) -> ip_replica*`` for ``@njit`` code.

    The jitted code calls ``ip_analyze``, ``ip_size`` or the quantiles on a handle made in
    Python (keep the handle alive while the jitted code runs)::

        replica_pointer = inferplan.capi.numba_replica_pointer()
        size = api.lib.ip_size

        @numba.njit
        def sized_rate(address, targets, out):
            size(replica_pointer(address), ffi.from_buffer(targets), ffi.from_buffer(out))
            return out[0].rate

        sized_rate(inferplan.capi.replica_address(handle), targets, out)

    Registers the struct types with Numba, as :func:`load` ``(numba=True)`` does.
    """
    return _register_numba()


def load(*, numba: bool = False) -> CApi:
    """Open the C library with cffi (once per process) and return its bindings.

    With ``numba=True`` the struct types are also registered with Numba, so that
    ``api.lib.ip_*`` functions bound to global names can be called from ``@njit`` code
    with ``api.ffi.from_buffer(array)`` arguments (arrays of ``api.*_dtype``).
    Raises :class:`CLibraryNotFoundError` if the library was not built.
    """
    api = _load()
    if numba:
        _register_numba()
    return api

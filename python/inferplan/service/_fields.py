"""Reading JSON request bodies field by field, with errors that name the field.

The reference services decode JSON the way Go's ``encoding/json`` does: keys are matched
without regard to case, unknown keys are ignored and a missing key is zero. The helpers here
do the same, and refuse anything else (a string where a number belongs, NaN, a fraction for
an integer) with an :class:`ApiError` naming the field and the value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """A request the service refuses: HTTP ``status`` with a message naming ``field``."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


def _reject_constant(name: str) -> float:
    raise ValueError(name)


def parse_json(raw: bytes) -> Any:
    """Return the decoded body; NaN and Infinity literals are refused like any other bad JSON."""
    if not raw:
        raise ApiError(400, "binding error: the request body is empty (a JSON object is expected)")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError as err:  # JSONDecodeError, or a NaN/Infinity literal
        if not isinstance(err, json.JSONDecodeError):
            import re

            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            hit = re.search(r'"([^"]*)"\s*:\s*(?:NaN|-?Infinity)', text)
            name = hit.group(1) if hit else None
            where = f"field {name!r}: " if name else ""
            raise ApiError(
                400,
                f"binding error: {where}{err.args[0]} is not a JSON number (only finite numbers)",
                field=name,
            ) from None
        raise ApiError(400, f"binding error: not valid JSON: {err}") from None
    except UnicodeDecodeError as err:
        raise ApiError(400, f"binding error: the body is not UTF-8 text: {err}") from None


def lower_keys(doc: Any, where: str) -> dict[str, Any]:
    """``doc`` with lower-cased keys; ``where`` names it in the error if it is not an object."""
    if not isinstance(doc, Mapping):
        raise ApiError(
            400,
            f"binding error: {where} must be a JSON object, got {type(doc).__name__}",
            field=None if where == "the body" else where,
        )
    return {str(k).lower(): v for k, v in doc.items()}


def number(
    d: Mapping[str, Any],
    key: str,
    *,
    prefix: str = "",
    default: float | None = 0.0,
    minimum: float | None = 0.0,
    positive: bool = False,
    integer: bool = False,
    maximum: float | None = None,
) -> Any:
    """``d[key.lower()]`` as a float (or int), checked.

    Absent (or null) gives ``default`` (``None`` default: the field is required).
    """
    name = prefix + key
    v = d.get(key.lower())
    if v is None:
        if default is None:
            raise ApiError(400, f"binding error: field {name!r} is required", field=name)
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ApiError(
            400, f"binding error: field {name!r} must be a number, got {v!r}", field=name
        )
    x = float(v)
    if not math.isfinite(x):
        raise ApiError(400, f"data error: field {name!r} must be finite, got {v!r}", field=name)
    if integer and not x.is_integer():
        raise ApiError(
            400, f"binding error: field {name!r} must be an integer, got {v!r}", field=name
        )
    if positive and x <= 0:
        raise ApiError(400, f"data error: field {name!r} must be > 0, got {v!r}", field=name)
    if minimum is not None and x < minimum:
        raise ApiError(
            400, f"data error: field {name!r} must be >= {minimum:g}, got {v!r}", field=name
        )
    if maximum is not None and x > maximum:
        raise ApiError(
            400, f"data error: field {name!r} must be <= {maximum:g}, got {v!r}", field=name
        )
    return int(x) if integer else x


def string(d: Mapping[str, Any], key: str, *, prefix: str = "", default: str | None = None) -> str:
    name = prefix + key
    v = d.get(key.lower())
    if v is None:
        if default is None:
            raise ApiError(400, f"binding error: field {name!r} is required", field=name)
        return default
    if not isinstance(v, str):
        raise ApiError(
            400, f"binding error: field {name!r} must be a string, got {v!r}", field=name
        )
    return v


def boolean(d: Mapping[str, Any], key: str, *, prefix: str = "", default: bool = False) -> bool:
    name = prefix + key
    v = d.get(key.lower())
    if v is None:
        return default
    if not isinstance(v, bool):
        raise ApiError(
            400, f"binding error: field {name!r} must be true or false, got {v!r}", field=name
        )
    return v


def finite(x: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return float(x) if math.isfinite(x) else None

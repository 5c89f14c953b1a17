"""Canonical JSON and the payload hash.

Canonical JSON is RFC 8785 (JSON Canonicalization Scheme): object keys sorted by their UTF-16
code units, no whitespace, strings with only the escapes JSON requires (lowercase ``\\u00xx``
for other control characters), UTF-8, and every number in ECMAScript's shortest notation
(``100``, ``1.5``, ``1e-7``, ``1e+21``; ``-0`` as ``0``). So ``1e2`` and ``100``, ``1.0`` and
``1`` are the same text and hash the same.

One documented difference from RFC 8785, on purpose: RFC 8785 writes a number as the double
nearest to it, so it cannot tell 9007199254740993 from 9007199254740992 (the ``rfc8785``
package refuses every integer beyond 2**53 for that reason). Here a number is written from its
exact decimal value (an integer with all its digits; a float as its shortest round-tripping
decimal, which is what RFC 8785 writes for it), in the same notation. For every number a
double holds exactly this is RFC 8785 byte for byte (a test compares it with the ``rfc8785``
package); a larger integer keeps its digits, as DynamoDB stores it, instead of colliding with
its neighbours: two events that hash the same are stored the same.

Why not ship the ``rfc8785`` package in the function's asset: it refuses those integers, which
DynamoDB stores exactly and producers send (ids, amounts in minor units); and the asset would
need a vendoring step for a ~300-line module whose one rule we need, numbers, is ten lines.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from typing import Any

from .errors import UnstorableValueError

# The C string encoder json.dumps(ensure_ascii=False) uses: it escapes exactly what RFC 8785
# requires (", \\, \b \f \n \r \t, other controls as lowercase \u00xx) and nothing else.
_encode_string = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring  # type: ignore[attr-defined]


# A whole float as the C encoder writes it (``10.0``), followed by what ends a JSON number
# inside a container: on the plain path (no string or key holds ".0") only a number can.
_WHOLE_FLOAT_ENDS = (",", "}", "]")


def _es_notation(negative: bool, digits: str, point: int) -> str:
    """ECMAScript Number::toString for the value 0.<digits> x 10**point (digits without
    leading or trailing zeros)."""
    k = len(digits)
    if k <= point <= 21:
        text = digits + "0" * (point - k)
    elif 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        exponent = point - 1
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
    return "-" + text if negative else text


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise UnstorableValueError(f"{value!s} is not a valid JSON number")
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = value.as_tuple()
    digits = "".join(map(str, digit_tuple))
    stripped = digits.lstrip("0")
    point = len(stripped) + int(exponent)
    return _es_notation(bool(sign), stripped.rstrip("0"), point)


def number_text(value: int | float | Decimal) -> str:
    """A number's canonical text (see the module docstring)."""
    if type(value) is int:
        text = str(value)
        if len(text) - (value < 0) <= 21:  # ECMAScript writes these as plain digits
            return text
        return _decimal_text(Decimal(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnstorableValueError(f"{value!r} is not a valid JSON number")
        if value == 0:
            return "0"
        text = repr(value)  # the shortest decimal that round-trips, as ECMAScript chooses it
        if "e" not in text:  # 1e-4 <= |value| < 1e16: already ECMAScript's form but for ".0"
            return text[:-2] if text.endswith(".0") else text
        return _decimal_text(Decimal(text))
    return _decimal_text(Decimal(value))


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_encode_string(value))
    elif kind is dict:
        keys = sorted(value)
        if not all(k.isascii() for k in keys):  # code-point order != UTF-16 order above BMP
            keys = sorted(value, key=_utf16)
        out.append("{")
        for index, key in enumerate(keys):
            if index:
                out.append(",")
            out.append(_encode_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, (int, float, Decimal)):
        out.append(number_text(value))
    elif isinstance(value, str):
        _write(str(value), out)
    elif isinstance(value, dict):
        _write(dict(value), out)
    else:
        raise UnstorableValueError(f"{type(value).__name__} is not a JSON value")


def canonical_json(value: Any, *, plain: bool = False) -> bytes:
    """The RFC 8785 bytes of a JSON value: what every hash in the contract is taken over.

    ``plain``: the caller has checked (attributes.detail_attribute_value, in the same walk that
    converts the detail) that the value holds only ASCII keys, integers of at most 21 digits,
    floats without an exponent and other than -0.0, and no string or key holding ``.0``. Then
    the C encoder's sorted compact text, less the ``.0`` it writes after a whole float (no
    string can hold one), is the canonical text byte for byte, several times faster than the
    writer above; a test holds the two equal on generated values."""
    if plain:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        if ".0" in text:
            # three C scans, a quarter of one regular expression's time at 1 KB
            for end in _WHOLE_FLOAT_ENDS:
                text = text.replace(".0" + end, end)
            if text.endswith(".0"):  # a whole float on its own
                text = text[:-2]
    else:
        out: list[str] = []
        _write(value, out)
        text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnstorableValueError(
            "text holds a lone surrogate, which is not valid Unicode"
        ) from None


def without(node: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``node`` without the value at ``path``; copies only the dicts on the path."""
    head = path[0]
    if head not in node:
        return node
    if len(path) == 1:
        return {k: v for k, v in node.items() if k != head}
    child = node[head]
    if not isinstance(child, dict):
        return node
    pruned = without(child, path[1:])
    if pruned is child:
        return node
    copy = dict(node)
    copy[head] = pruned
    return copy


def payload_hash(
    detail: dict[str, Any], excluded: tuple[tuple[str, ...], ...], *, plain: bool = False
) -> str:
    """SHA-256 (hex) of the canonical JSON of ``detail`` less the ``excluded`` paths
    (relative to the detail). Removing an absent path is a no-op; ``detail`` is not changed.
    ``plain``: see canonical_json (what holds for the detail holds for any part of it)."""
    hashed = detail
    for path in excluded:
        hashed = without(hashed, path)
    return hashlib.sha256(canonical_json(hashed, plain=plain)).hexdigest()

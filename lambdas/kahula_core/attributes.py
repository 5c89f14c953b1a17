"""JSON values as DynamoDB AttributeValues, with the stored size of each.

Sizes follow DynamoDB's item-size rules (names and string values in UTF-8 bytes, a number
about one byte per two significant digits plus one, 3 bytes per map or list plus 1 per
element); the record adds them up to decide on the claim check and to refuse an item over
400 KB before DynamoDB does. Every value DynamoDB cannot store raises UnstorableValueError
naming where it sits in the detail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from . import spec
from .errors import UnstorableValueError

MAX_NESTING_DEPTH = spec.DYNAMODB_MAX_NESTING_DEPTH
MAX_NUMBER_DIGITS = spec.DYNAMODB_MAX_NUMBER_DIGITS
MAX_NUMBER_EXPONENT = spec.DYNAMODB_MAX_NUMBER_EXPONENT
MIN_NUMBER_EXPONENT = spec.DYNAMODB_MIN_NUMBER_EXPONENT


def location(where: Any) -> str:
    """Render a lazily built location: ("detail",) / (parent, key) / (parent, [index])."""
    parts: list[str] = []
    while isinstance(where, tuple) and len(where) == 2:
        where, step = where
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return str(where[0] if isinstance(where, tuple) else where) + "".join(reversed(parts))


def string_bytes(value: str, where: Any) -> int:
    """UTF-8 length of a string; UnstorableValueError for a lone surrogate."""
    if value.isascii():
        return len(value)
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnstorableValueError(
            f"{location(where)}: text holds a lone surrogate, which is not valid Unicode"
        ) from None


def number_size(text: str) -> int:
    """Stored size of a number: about a byte per two significant digits, plus one."""
    return len(text) // 2 + 2


def checked_number(value: Decimal, where: Any) -> str:
    """A number as DynamoDB stores it, after its precision and range checks."""
    if value != 0:
        # Significant digits without Decimal.normalize(), which rounds to the context's 28.
        significant = "".join(map(str, value.as_tuple().digits)).strip("0")
        if len(significant) > MAX_NUMBER_DIGITS:
            raise UnstorableValueError(
                f"{location(where)}: number has {len(significant)} significant digits; "
                f"DynamoDB stores at most {MAX_NUMBER_DIGITS}"
            )
        adjusted = value.adjusted()
        if not MIN_NUMBER_EXPONENT <= adjusted <= MAX_NUMBER_EXPONENT:
            raise UnstorableValueError(
                f"{location(where)}: number magnitude 1E{adjusted} is outside DynamoDB's range "
                f"(1E{MIN_NUMBER_EXPONENT} to 1E{MAX_NUMBER_EXPONENT})"
            )
    return str(value)


def _not_finite(value: Any, where: Any) -> UnstorableValueError:
    return UnstorableValueError(
        f"{location(where)}: {value!s} is not a number JSON or DynamoDB can hold (a literal "
        "beyond a double's range arrives as infinity: the Lambda runtime parses JSON numbers "
        "into doubles before the function runs)"
    )


#: Why a value's text from the C JSON encoder would not be canonical (hashing.py): appended to
#: the ``odd`` list the conversion carries, on the rare paths only.
NON_ASCII_KEY = "a non-ASCII key (UTF-16 key order)"
LONG_INT = "an integer over 21 digits (ECMAScript notation)"
FLOAT_FORM = "a float written with an exponent, or -0.0 (ECMAScript notation)"
DOT_ZERO_TEXT = "a string or key holding '.0' (the whole-float rewrite must not touch it)"
NOT_PLAIN_JSON = "a value of a subclass or a Decimal"


# The common cases converted inline in _convert's loops (the rest go through _leaf): an int of
# at most 21 digits, a finite non-zero float whose repr has no exponent.
_SHORT_INT = 10**21
_isfinite = math.isfinite


def _leaf(value: Any, where: Any, odd: list[str]) -> tuple[dict[str, Any], int] | None:
    """A string or number as an AttributeValue with its size; None for anything else."""
    kind = type(value)
    if kind is str:
        if ".0" in value:
            odd.append(DOT_ZERO_TEXT)
        return {"S": value}, (len(value) if value.isascii() else string_bytes(value, where))
    if kind is int:
        text = str(value)
        if len(text) > 21:
            odd.append(LONG_INT)
            # Up to 38 digits an int is always within DynamoDB's precision and range.
            if len(text) > MAX_NUMBER_DIGITS + (text[0] == "-"):
                text = checked_number(Decimal(value), where)
        return {"N": text}, number_size(text)
    if kind is float:
        if not math.isfinite(value):
            raise _not_finite(value, where)
        text = repr(value)
        # A repr without an exponent has at most 17 digits and lies within 1E-5..1E16.
        if "e" in text:
            odd.append(FLOAT_FORM)
            text = checked_number(Decimal(text), where)
        elif value == 0 and text[0] == "-":
            odd.append(FLOAT_FORM)
        return {"N": text}, number_size(text)
    return None


def to_attribute_value(value: Any, where: Any = "detail", depth: int = 1) -> tuple[dict, int]:
    """One JSON value -> (DynamoDB AttributeValue, its stored size in bytes).

    A float becomes the exact decimal of its shortest round-tripping repr (what the producer
    wrote, for any number a double holds exactly as written); an int is exact. ``where`` is
    the value's location, built lazily as nested tuples and rendered only for an error
    message.
    """
    return _convert(value, where, depth, [])


def detail_attribute_value(detail: Any) -> tuple[dict, int, bool]:
    """``to_attribute_value`` of a detail, and whether its JSON is *plain*: only ASCII keys,
    integers of at most 21 digits, floats without an exponent and other than -0.0, and no
    string or key holding ``.0``. Then the C JSON encoder's sorted compact text, with the
    ``.0`` of whole floats dropped, is its canonical JSON (hashing.py). One walk serves both:
    this is the hot path."""
    odd: list[str] = []
    value, size = _convert(detail, "detail", 1, odd)
    return value, size, not odd


def _convert(value: Any, where: Any, depth: int, odd: list[str]) -> tuple[dict, int]:
    """to_attribute_value's work. This is the hottest loop: strings inline, numbers in _leaf,
    only containers recurse."""
    kind = type(value)
    if kind is dict or kind is list:
        if depth > MAX_NESTING_DEPTH:
            raise UnstorableValueError(
                f"{location(where)}: nested deeper than DynamoDB's {MAX_NESTING_DEPTH} levels"
            )
        size = 3
        converted: tuple[dict, int] | None
        if kind is dict:
            out: dict[str, Any] = {}
            for key, item in value.items():
                if type(key) is not str or key == "":
                    raise UnstorableValueError(
                        f"{location(where)}: map keys must be non-empty strings"
                    )
                if ".0" in key:
                    odd.append(DOT_ZERO_TEXT)
                if key.isascii():
                    size += len(key) + 1
                else:
                    odd.append(NON_ASCII_KEY)
                    size += string_bytes(key, where) + 1
                kind = type(item)
                if kind is str and item.isascii() and ".0" not in item:
                    out[key] = {"S": item}
                    size += len(item)
                    continue
                if kind is int and -_SHORT_INT < item < _SHORT_INT:
                    text = str(item)
                    out[key] = {"N": text}
                    size += len(text) // 2 + 2  # number_size, inline
                    continue
                if kind is float and item and _isfinite(item):
                    text = repr(item)
                    if "e" not in text:
                        out[key] = {"N": text}
                        size += len(text) // 2 + 2
                        continue
                here = (where, key)
                if kind is dict or kind is list:
                    converted = _convert(item, here, depth + 1, odd)
                else:
                    converted = _leaf(item, here, odd) or _convert(item, here, depth + 1, odd)
                out[key] = converted[0]
                size += converted[1]
            return {"M": out}, size
        items = []
        for index, item in enumerate(value):
            kind = type(item)
            if kind is str and item.isascii() and ".0" not in item:
                items.append({"S": item})
                size += len(item) + 1
                continue
            at = (where, index)
            if kind is dict or kind is list:
                converted = _convert(item, at, depth + 1, odd)
            else:
                converted = _leaf(item, at, odd) or _convert(item, at, depth + 1, odd)
            items.append(converted[0])
            size += converted[1] + 1
        return {"L": items}, size
    leaf = _leaf(value, where, odd)
    if leaf is not None:
        return leaf
    if kind is bool:
        return {"BOOL": value}, 1
    if value is None:
        return {"NULL": True}, 1
    odd.append(NOT_PLAIN_JSON)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _not_finite(value, where)
        text = checked_number(value, where)
        return {"N": text}, number_size(text)
    for base in (str, int, float, dict, list):  # a subclass (an IntEnum, ...): as its base
        if isinstance(value, base):
            return _convert(base(value), where, depth, odd)  # type: ignore[arg-type]
    raise UnstorableValueError(f"{location(where)}: {type(value).__name__} is not a JSON value")


def attribute_size(name: str, av: Mapping[str, Any]) -> int:
    """Stored size of one top-level attribute (name + value) of an item already encoded."""
    return len(name.encode("utf-8")) + _value_size(av)


def _value_size(av: Mapping[str, Any]) -> int:
    ((kind, value),) = av.items()
    if kind == "S":
        return len(value.encode("utf-8"))
    if kind == "N":
        return number_size(value)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + _value_size(v) + 1 for k, v in value.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in value)
    return 1  # BOOL, NULL


def from_attribute_value(av: Mapping[str, Any]) -> Any:
    """The inverse of to_attribute_value (numbers come back as Decimal)."""
    ((kind, value),) = av.items()
    if kind == "S":
        return value
    if kind == "N":
        return Decimal(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute_value(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute_value(v) for v in value]
    raise ValueError(f"unsupported attribute type {kind}")

"""Numbers: one canonical text per value (RFC 8785 notation over the exact decimal the runtime
holds), exact storage, and a reason for every number that cannot be kept."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import rfc8785
from hypothesis import example, given, reject
from hypothesis import strategies as st
from kahula_core.attributes import (
    detail_attribute_value,
    from_attribute_value,
    to_attribute_value,
)
from kahula_core.errors import UnstorableValueError
from kahula_core.hashing import canonical_json, number_text, payload_hash

SAFE_INTEGERS = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)  # rfc8785: I-JSON
KEYS = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
JSON = st.recursive(
    st.none() | st.booleans() | SAFE_INTEGERS | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(value=JSON)
def test_canonical_json_is_rfc_8785_for_every_value_a_double_holds(value):
    # GIVEN any JSON value whose numbers are doubles or integers within 2**53
    # THEN our canonical bytes are the RFC 8785 reference implementation's, byte for byte
    assert canonical_json(value) == rfc8785.dumps(value)


# Details as producers send them: ASCII-heavy keys, whole and fractional floats, big integers,
# strings that look like numbers ("v1.0]"), so both sides of the fast path's checks are drawn.
DETAIL_TEXT = st.sampled_from(["a", "v1.0", "1.0]", "x.0,", "é", "\U0001f600", "-0.0", "10"])
DETAIL_KEYS = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=6)
DETAILS = st.dictionaries(
    DETAIL_KEYS | DETAIL_TEXT,
    st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from([0.0, -0.0, 10.0, 1e16, 1e-7, 12.5, 100.0])
        | DETAIL_TEXT | st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(DETAIL_KEYS | DETAIL_TEXT, children, max_size=4),
        max_leaves=20,
    ),
    max_size=5,
)  # fmt: skip


@given(detail=DETAILS)
@example(detail={"price": 10.0, "lines": [0.0, 1.5, {"qty": 100.0}, 2.0], "id": 10**21 - 1})
def test_the_fast_canonical_path_writes_what_the_canonical_writer_writes(detail):
    # GIVEN any detail DynamoDB can store, and what the conversion walk found about it
    try:
        _, _, plain = detail_attribute_value(detail)
    except UnstorableValueError:
        reject()  # refused before any hash is taken
    # WHEN its canonical JSON is written through the C encoder (when plain) and by the writer
    # THEN the bytes are the same, so the stored hash never depends on the path taken
    assert canonical_json(detail, plain=plain) == canonical_json(detail)


@pytest.mark.parametrize("value", [10.0, [1.0], {"a": [2.0, {"b": 3.0}]}, 0.0])
def test_the_fast_path_drops_the_point_zero_of_a_whole_float_wherever_it_ends(value):
    # GIVEN a whole float at the end of the text, of a list, of a map, or before a comma
    _, _, plain = detail_attribute_value(value)
    # THEN the fast path writes it as the canonical writer does: without ".0"
    assert plain
    assert canonical_json(value, plain=True) == canonical_json(value)


def test_a_string_that_looks_like_a_whole_float_keeps_the_detail_off_the_fast_path():
    # GIVEN a detail whose string holds "1.0," (the C encoder's text of a whole float)
    _, _, plain = detail_attribute_value({"note": "1.0,", "n": 2.0})
    # THEN it is hashed by the canonical writer, and the string is kept as written
    assert not plain
    assert canonical_json({"note": "1.0,", "n": 2.0}) == b'{"n":2,"note":"1.0,"}'


@pytest.mark.parametrize(
    ("a", "b"),
    [("1e2", "100"), ("1.0", "1"), ("0.5", "5e-1"), ("-0.0", "0"),
     ("1E+21", "1000000000000000000000"), ("12.50", "12.5"), ("1e-7", "0.0000001")],
)  # fmt: skip
def test_the_same_json_number_written_two_ways_hashes_the_same(a, b):
    # GIVEN two producers serialising the same number differently (as the runtime parses them)
    one, other = json.loads(f'{{"n": {a}}}'), json.loads(f'{{"n": {b}}}')
    # THEN the payload hash is the same
    assert payload_hash(one, ()) == payload_hash(other, ())


def test_integers_beyond_a_double_keep_their_digits_and_never_collide():
    # RFC 8785 writes 2**53 + 1 as the double 2**53; we write the exact value instead
    assert number_text(2**53 + 1) == "9007199254740993"
    assert payload_hash({"n": 2**53 + 1}, ()) != payload_hash({"n": 2**53}, ())
    assert number_text(10**25) == "1e+25" == number_text(1e25)
    assert number_text(12345678901234567890123) == "1.2345678901234567890123e+22"


@given(
    value=st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1)
    | st.floats(min_value=-1e120, max_value=1e120, allow_nan=False).filter(
        lambda f: f == 0 or abs(f) > 1e-120
    )
)
def test_the_canonical_text_and_the_stored_number_are_the_same_value(value):
    # GIVEN any number DynamoDB can hold WHEN stored and hashed
    stored = from_attribute_value(to_attribute_value(value)[0])
    # THEN the canonical text reads back as exactly the stored decimal
    assert Decimal(number_text(value)) == stored
    assert canonical_json(stored) == canonical_json(value)


def test_a_number_beyond_a_double_is_refused_with_the_reason():
    # GIVEN 1e400, which the Lambda runtime parses as infinity before the function runs
    detail = json.loads('{"n": 1e400}')
    # THEN it is refused, and the reason says what happened
    with pytest.raises(UnstorableValueError, match="beyond a double's range arrives as infinity"):
        to_attribute_value(detail)


def test_a_number_below_a_double_arrives_as_zero_and_is_stored_as_zero():
    # GIVEN 1e-400, which the runtime parses as 0.0: nothing downstream can tell it from 0
    detail = json.loads('{"n": 1e-400}')
    # THEN it is stored and hashed as 0 (the README says so)
    assert from_attribute_value(to_attribute_value(detail)[0]) == {"n": Decimal(0)}
    assert canonical_json(detail) == b'{"n":0}'


@pytest.mark.parametrize(("value", "fragment"), [(5e-324, "1E-324"), (1e126, "1E126")])
def test_a_double_outside_dynamodbs_range_is_refused_with_the_range(value, fragment):
    with pytest.raises(UnstorableValueError, match=f"magnitude {fragment} is outside DynamoDB"):
        to_attribute_value({"n": value})


def test_keys_are_ordered_by_utf16_code_units_as_rfc_8785_says():
    # U+1F680 is D83D DE80 in UTF-16: before U+FFFF there, after it by code point
    value = {"\uffff": 1, "\U0001f680": 2, "a": 3}
    assert canonical_json(value) == '{"a":3,"\U0001f680":2,"\uffff":1}'.encode()
    assert canonical_json(value) == rfc8785.dumps(value)

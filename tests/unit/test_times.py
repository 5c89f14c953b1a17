"""Event times: one canonical, fixed-width UTC form whose string order is time order; anything
else refused with InvalidTimestampError (a malformed-event error), never a raw exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kahula_core.envelope import normalise_time
from kahula_core.errors import InvalidTimestampError, MalformedEventError

OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
INSTANTS = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)


def _offset_text(moment: datetime, basic: bool) -> str:
    offset = moment.utcoffset()
    assert offset is not None
    if offset == timedelta(0):
        return "Z"
    minutes = int(offset.total_seconds()) // 60
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{sign}{minutes // 60:02d}{'' if basic else ':'}{minutes % 60:02d}"


@st.composite
def iso_texts(draw, instant):
    """``instant`` written as one of many ISO-8601 forms (extended or basic, T or space,
    no fraction, milli-, micro- or nanoseconds), in a random offset."""
    local = instant.astimezone(draw(OFFSETS))
    basic = draw(st.booleans())
    dash, colon = ("", "") if basic else ("-", ":")
    separator = "T" if basic else draw(st.sampled_from(["T", " "]))
    date = f"{local.year:04d}{dash}{local.month:02d}{dash}{local.day:02d}"
    clock = f"{local.hour:02d}{colon}{local.minute:02d}{colon}{local.second:02d}"
    fraction = draw(st.sampled_from(["", "ms", "us", "ns"]))
    if fraction == "ms" and local.microsecond % 1000 == 0:
        clock += f".{local.microsecond // 1000:03d}"
    elif fraction == "ns":
        clock += f".{local.microsecond:06d}000"
    elif local.microsecond or fraction == "us":
        clock += f".{local.microsecond:06d}"
    return date + separator + clock + _offset_text(local, basic)


@given(data=st.data(), a=INSTANTS, b=INSTANTS)
def test_string_order_of_stored_times_is_time_order(data, a, b):
    # GIVEN two instants, each written in any ISO-8601 form and offset
    text_a, text_b = data.draw(iso_texts(a)), data.draw(iso_texts(b))
    # WHEN both are normalised
    stored_a, stored_b = normalise_time(text_a), normalise_time(text_b)
    # THEN each is the one fixed-width form, and comparing the strings compares the instants
    assert len(stored_a) == len(stored_b) == len("2026-11-20T10:15:30.000000Z")
    assert stored_a == f"{a.year:04d}-" + a.strftime("%m-%dT%H:%M:%S.%fZ")
    assert (stored_a < stored_b) == (a < b)
    assert (stored_a == stored_b) == (a == b)


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:30:00+01:00",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:30:00-01:00",
        "9999-12-31T23:59:59.999999-00:01",
    ],
)
def test_calendar_edge_times_that_leave_the_calendar_in_utc_are_refused(text):
    # GIVEN a time whose instant lies before year 1 or after year 9999 in UTC
    # WHEN it is normalised THEN it is refused as malformed, naming the range (no OverflowError)
    with pytest.raises(InvalidTimestampError, match="outside years 0001-9999"):
        normalise_time(text)


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 2), timezones=OFFSETS
    )
    | st.datetimes(
        min_value=datetime(9999, 12, 31), max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=OFFSETS,
    )
)  # fmt: skip
def test_calendar_edges_either_normalise_or_raise_a_malformed_event_error(moment):
    try:
        stored = normalise_time(moment.isoformat())
    except MalformedEventError:
        return
    assert len(stored) == 27 and stored.endswith("Z")


def test_year_one_is_written_with_four_digits():
    assert normalise_time("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00.000000Z"

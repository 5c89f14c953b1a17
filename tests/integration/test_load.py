"""10,000 events through the local pipeline: zero lost, zero duplicated (make test-load)."""

from __future__ import annotations

import io
import json
import time

import pytest

from local.faults import events
from local.pipeline import LocalPipeline

COUNT = 10_000


@pytest.mark.load
def test_ten_thousand_events_none_lost_none_duplicated(tmp_path, capsys):
    entries = events(COUNT, seed=21)
    with LocalPipeline.start(tmp_path, handler_log=io.StringIO()) as pipeline:
        started = time.perf_counter()
        published = pipeline.process(entries, chunk=200)
        seconds = time.perf_counter() - started
        items = pipeline.items()
        ledger = pipeline.account(published)
    received = {m["detail"]["follow_up_id"] for m in ledger.follow_up_messages}
    expected = {
        json.loads(e["Detail"]).get("metadata", {}).get("event_id") or event_id
        for event_id, e in published.accepted.items()
    } | received
    with capsys.disabled():
        print(f"\nload: {COUNT} events in {seconds:.0f} s = {COUNT / seconds:.1f} events/s")
    assert len(published.accepted) == COUNT
    assert ledger.lost == []
    assert set(items) == expected  # every event once, every follow-up once, nothing else
    assert ledger.duplicates == 0

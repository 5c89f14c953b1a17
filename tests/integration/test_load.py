"""10,000 events through the local pipeline: zero lost, zero duplicated (in make test).

moto runs in this process (local/moto_server.py `moto_in_process`); `make test-load` runs this
file alone and prints its figures.
"""

from __future__ import annotations

import io
import json
import os
import resource
import time

from local.faults import events
from local.pipeline import LocalPipeline

COUNT = 10_000


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_ten_thousand_events_none_lost_none_duplicated(tmp_path, capsys):
    # GIVEN 10,000 events of the fault mix (a third with a follow-up, most with a producer id)
    entries = events(COUNT, seed=21)
    with LocalPipeline.start(tmp_path, handler_log=io.StringIO()) as pipeline:
        # WHEN they are published on the bus and routed until every queue is idle
        started, cpu = time.perf_counter(), cpu_seconds()
        published = pipeline.process(entries, chunk=200)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        items = pipeline.items()
        ledger = pipeline.account(published)
        total = time.perf_counter() - started
    received = {m["detail"]["follow_up_id"] for m in ledger.follow_up_messages}
    expected = {
        json.loads(e["Detail"]).get("metadata", {}).get("event_id") or event_id
        for event_id, e in published.accepted.items()
    } | received
    with capsys.disabled():
        print(
            f"\nload: {COUNT} events routed in {seconds:.0f} s ({COUNT / seconds:.0f} events/s,"
            f" {cpu:.0f} s CPU), {total:.0f} s with the accounting;"
            f" {len(items)} items, {len(ledger.archive_objects)} archive objects;"
            f" load average {os.getloadavg()[0]:.1f}"
        )
    # THEN every event is stored once, every due follow-up once, and nothing else
    assert len(published.accepted) == COUNT
    assert ledger.lost == []
    assert set(items) == expected
    assert len(received) == len(ledger.follow_up_messages)  # no follow-up routed twice
    assert ledger.duplicates == 0
    assert sum(lines for _, lines in ledger.archive_objects) == len(items)  # archived once

"""The replay engine (kahula.cli.replay) against moto's S3 and EventBridge."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from kahula_core import spec

from cdk_app.cli.replay import (
    MAX_BATCH_BYTES,
    Replayer,
    ReplayError,
    Window,
    parse_time,
    replay_from_bus_archive,
)

from .conftest import REGION

BUCKET = "kahula-archive-test"
BUS = "kahula-events-test"
REPLAY_SOURCE = spec.replay_source("kahula")
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def archived(n: int, *, at: datetime = T0, **fields: Any) -> dict[str, Any]:
    """An event as the archive holds it (the bus's JSON, one line)."""
    return {
        "version": "0",
        "id": f"eb-{n:04d}",
        "detail-type": fields.get("detail_type", "OrderUpdatedEvent"),
        "source": fields.get("source", "orders.service"),
        "account": "123456789012",
        "time": (at + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": fields.get("detail", {"n": n}),
    }


def partition(at: datetime) -> str:
    return f"events/year={at:%Y}/month={at:%m}/day={at:%d}/hour={at:%H}/"


@pytest.fixture
def s3(aws) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def put_object(s3: Any, key: str, lines: list[Any], *, compress: bool = True) -> None:
    body = b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines
    )
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(body) if compress else body)


class FakeBus:
    """PutEvents that records entries, and can reject some or stop the process."""

    def __init__(
        self, reject: Callable[[dict[str, Any], int], str | None] | None = None, stop_after=None
    ):
        self.calls: list[list[dict[str, Any]]] = []
        self._reject = reject
        self._stop_after = stop_after

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [e for call in self.calls for e in call]

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self._stop_after is not None and len(self.calls) == self._stop_after:
            raise KeyboardInterrupt
        self.calls.append(list(Entries))
        results = []
        for entry in Entries:
            code = self._reject(entry, len(self.calls)) if self._reject else None
            results.append(
                {"ErrorCode": code, "ErrorMessage": "slow down"} if code else {"EventId": "x"}
            )
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}


def replayer(s3: Any, bus: Any, **kwargs: Any) -> Replayer:
    kwargs.setdefault("sleep", lambda _: None)
    return Replayer(
        s3=s3, events=bus, bucket=BUCKET, bus_name=BUS, replay_source=REPLAY_SOURCE, **kwargs
    )


def window(**kwargs: Any) -> Window:
    return Window(start=T0, end=T0 + timedelta(hours=1), **kwargs)


# ------------------------------------------------------------------ the window


def test_window_lists_its_hours_with_firehose_buffer_and_lateness():
    # GIVEN a window of one hour, 07:00 to 08:00, and an hour of lateness
    # WHEN its partitions are listed
    prefixes = window().partitions()
    # THEN 06 (an object named by a record up to 15 min earlier), 07 and 08 (late arrivals)
    assert prefixes == [
        partition(T0 - timedelta(hours=1)),
        partition(T0),
        partition(T0 + timedelta(hours=1)),
    ]


def _hours_under(prefixes: list[str], first: datetime, last: datetime) -> list[str]:
    """Every hour partition from ``first`` to ``last`` that one of ``prefixes`` lists."""
    hours, hour = [], first
    while hour < last:
        if any(partition(hour).startswith(p) for p in prefixes):
            hours.append(partition(hour))
        hour += timedelta(hours=1)
    return hours


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T0, T0 + timedelta(hours=1)),
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2025, 12, 31, 22, 30, tzinfo=UTC), datetime(2027, 2, 3, 5, tzinfo=UTC)),
        (datetime(2024, 2, 28, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)),  # leap day
    ],
)
def test_window_lists_exactly_its_hours_with_the_fewest_prefixes(start, end):
    # GIVEN windows from an hour to years, across month, year and leap-day edges
    win = Window(start=start, end=end)
    # WHEN listed by coarse prefixes THEN those prefixes cover exactly the hour partitions,
    # no hour missing and none outside (checked a year either side)
    prefixes = win.prefixes()
    around = (start - timedelta(days=366), end + timedelta(days=366))
    assert _hours_under(prefixes, *around) == win.partitions()
    assert len(prefixes) <= len(win.partitions())
    assert win.partition_count() == len(win.partitions())


def test_a_window_of_decades_is_a_few_hundred_listings_not_one_per_hour():
    # GIVEN --from 1970 --to 2100 (about 1.1 million hours)
    win = Window(start=datetime(1970, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC))
    # WHEN its prefixes are computed THEN about one per year, plus the edges
    assert win.partition_count() > 1_000_000
    assert len(win.prefixes()) < 200


def test_a_window_outside_what_an_archive_can_hold_is_refused_with_a_sentence():
    # GIVEN a window reaching past year 9000 or before 1970 THEN refused, naming the bounds
    with pytest.raises(ReplayError, match="must lie within 1970-01-01"):
        Window(start=T0, end=datetime(9999, 12, 31, 23, tzinfo=UTC))
    with pytest.raises(ReplayError, match="must lie within 1970-01-01"):
        Window(start=datetime(1, 1, 1, tzinfo=UTC), end=T0)


def test_window_must_run_forwards():
    # GIVEN --from after --to
    # WHEN the window is made
    # THEN it is refused, naming both
    with pytest.raises(ReplayError, match="must be before --to"):
        Window(start=T0, end=T0)


def test_time_without_offset_is_utc_and_bad_time_is_refused():
    # GIVEN times as operators type them
    # WHEN parsed
    # THEN a naive time is UTC, and text that is no time gets a sentence
    assert parse_time("2026-11-22T07:00", "--from") == T0
    assert parse_time("2026-11-22T09:00+02:00", "--from") == T0
    with pytest.raises(ReplayError, match="--from 'yesterday' is not an ISO-8601 time"):
        parse_time("yesterday", "--from")


# ------------------------------------------------------------------ reading and publishing


def test_replay_publishes_each_archived_event_wrapped_and_unchanged(s3):
    # GIVEN two archived events in the window's partition
    events = [archived(1), archived(2)]
    put_object(s3, partition(T0) + "a.json.gz", events)
    bus = FakeBus()
    # WHEN the window is replayed
    summary = replayer(s3, bus).run(window())
    # THEN each is published under the replay source, the archived event as its detail, as is
    assert [json.loads(e["Detail"]) for e in bus.entries] == events
    assert {(e["Source"], e["DetailType"], e["EventBusName"]) for e in bus.entries} == {
        (REPLAY_SOURCE, spec.REPLAY_DETAIL_TYPE, BUS)
    }
    assert (summary.objects, summary.lines_read, summary.matched, summary.published) == (1, 2, 2, 2)


def test_replay_reads_only_the_windows_partitions(s3):
    # GIVEN an object in the window's hour and one a day later
    put_object(s3, partition(T0) + "in.json.gz", [archived(1)])
    put_object(s3, partition(T0 + timedelta(days=1)) + "out.json.gz", [archived(2)])
    bus = FakeBus()
    # WHEN the window is replayed
    summary = replayer(s3, bus).run(window())
    # THEN only the window's object is read
    assert summary.objects == 1
    assert [json.loads(e["Detail"])["id"] for e in bus.entries] == ["eb-0001"]


def test_replay_filters_by_time_type_and_source(s3):
    # GIVEN events of two types and sources, one before the window (in a listed partition)
    put_object(
        s3,
        partition(T0) + "a.json.gz",
        [
            archived(1),
            archived(2, detail_type="CustomerValidatedEvent"),
            archived(3, source="billing.service"),
            archived(4, at=T0 - timedelta(minutes=5)),
        ],
    )
    bus = FakeBus()
    # WHEN one type and one source are replayed
    summary = replayer(s3, bus).run(
        window(detail_types=frozenset({"OrderUpdatedEvent"}), sources=frozenset({"orders.service"}))
    )
    # THEN only the event that passes every filter is published; the others are counted
    assert [json.loads(e["Detail"])["id"] for e in bus.entries] == ["eb-0001"]
    assert (summary.matched, summary.filtered_out) == (1, 3)


def test_dry_run_counts_and_publishes_nothing(s3, tmp_path):
    # GIVEN archived events
    put_object(s3, partition(T0) + "a.json.gz", [archived(1), archived(2)])
    bus = FakeBus()
    # WHEN replayed with --dry-run (and a checkpoint path)
    summary = replayer(s3, bus, dry_run=True, checkpoint=tmp_path / "cp.json").run(window())
    # THEN they are counted as matched, nothing is published, no checkpoint is written
    assert (summary.matched, summary.published, bus.calls) == (2, 0, [])
    assert not (tmp_path / "cp.json").exists()


def test_malformed_lines_are_skipped_with_their_reasons(s3):
    # GIVEN an object with good lines around bad ones
    put_object(
        s3,
        partition(T0) + "a.json.gz",
        [archived(1), b"{not json", b"[1, 2]", {**archived(3), "time": "soon"}, archived(4)],
    )
    bus = FakeBus()
    # WHEN replayed
    summary = replayer(s3, bus).run(window())
    # THEN the good lines are published and each bad one is reported where it is, with why
    assert summary.published == 2
    reasons = dict(summary.skipped)
    key = partition(T0) + "a.json.gz"
    assert reasons[f"{key}:2"].startswith("not JSON")
    assert reasons[f"{key}:3"] == "not a JSON object but list"
    assert "its time 'soon' is not an ISO-8601 time" in reasons[f"{key}:4"]


def test_replay_wrappers_found_in_the_archive_are_skipped(s3):
    # GIVEN a wrapper that reached the archive (before the archive rule excluded the source)
    put_object(s3, partition(T0) + "a.json.gz", [archived(1, source=REPLAY_SOURCE), archived(2)])
    bus = FakeBus()
    # WHEN replayed
    summary = replayer(s3, bus).run(window())
    # THEN the wrapper is not wrapped again; it is reported as skipped
    assert summary.published == 1
    assert summary.skipped[0][1] == "a replay wrapper, not an original event"


def test_uncompressed_objects_are_read_too(s3):
    # GIVEN an object that is not gzipped
    put_object(s3, partition(T0) + "plain.json", [archived(1)], compress=False)
    bus = FakeBus()
    # WHEN replayed
    # THEN its line is published
    assert replayer(s3, bus).run(window()).published == 1


def test_batches_hold_at_most_ten_entries_and_256_kb(s3):
    # GIVEN 25 small events and 3 of 100 KB
    big = {"blob": "x" * 100_000}
    put_object(
        s3,
        partition(T0) + "a.json.gz",
        [archived(n) for n in range(25)] + [archived(100 + n, detail=big) for n in range(3)],
    )
    bus = FakeBus()
    # WHEN replayed
    summary = replayer(s3, bus).run(window())
    # THEN every call has at most 10 entries and 256 KB, and all 28 are published
    assert summary.published == 28
    assert max(len(call) for call in bus.calls) == 10
    sizes = [
        sum(len(e["Detail"]) + len(e["Source"]) + len(e["DetailType"]) for e in c)
        for c in bus.calls
    ]
    assert max(sizes) <= MAX_BATCH_BYTES


def test_an_event_too_large_to_wrap_is_reported_failed(s3):
    # GIVEN an archived event near 1 MB: wrapped, it exceeds EventBridge's event limit
    put_object(
        s3, partition(T0) + "a.json.gz", [archived(1, detail={"blob": "x" * (1024 * 1024 - 40)})]
    )
    bus = FakeBus()
    # WHEN replayed
    summary = replayer(s3, bus).run(window())
    # THEN it is not sent, and is reported failed with the sizes
    assert bus.calls == []
    assert "over EventBridge's 1048576-byte event limit" in summary.failed[0][1]


def test_only_rejected_entries_are_retried_with_backoff(s3):
    # GIVEN a bus that throttles eb-0002 on the first attempt only
    put_object(s3, partition(T0) + "a.json.gz", [archived(1), archived(2), archived(3)])
    bus = FakeBus(
        reject=lambda e, call: (
            "ThrottlingException"
            if call == 1 and json.loads(e["Detail"])["id"] == "eb-0002"
            else None
        )
    )
    sleeps: list[float] = []
    # WHEN replayed
    summary = replayer(s3, bus, sleep=sleeps.append, jitter=lambda: 0.5).run(window())
    # THEN the second call resends only that entry, after a backoff, and all are published
    assert [len(c) for c in bus.calls] == [3, 1]
    assert json.loads(bus.calls[1][0]["Detail"])["id"] == "eb-0002"
    assert (summary.published, summary.retries, summary.failed) == (3, 1, [])
    assert sleeps == [0.2]


def test_entries_rejected_every_time_are_failed_with_the_reason(s3):
    # GIVEN a bus that always rejects one entry
    put_object(s3, partition(T0) + "a.json.gz", [archived(1), archived(2)])
    bus = FakeBus(reject=lambda e, _: "AccessDeniedException" if "eb-0001" in e["Detail"] else None)
    # WHEN replayed with 3 attempts
    summary = replayer(s3, bus, attempts=3).run(window())
    # THEN it is reported failed where it is, with the code; the other is published
    assert summary.published == 1
    ((where, reason),) = summary.failed
    assert where.endswith("a.json.gz:1")
    assert reason == "PutEvents rejected it 3 times: AccessDeniedException: slow down"


def test_rate_paces_the_calls(s3):
    # GIVEN 30 events and --rate 10 (events per second), on a fake clock
    put_object(s3, partition(T0) + "a.json.gz", [archived(n) for n in range(30)])
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    # WHEN replayed
    replayer(s3, FakeBus(), rate=10, sleep=sleep, clock=lambda: now[0]).run(window())
    # THEN the three batches of 10 start at 0 s, 1 s and 2 s
    assert sleeps == pytest.approx([0.9, 1.0, 1.0])


def test_rate_must_be_positive(s3):
    # GIVEN --rate 0
    # WHEN / THEN the replayer refuses it with a sentence
    with pytest.raises(ReplayError, match="--rate must be a positive number"):
        replayer(s3, FakeBus(), rate=0)


# ------------------------------------------------------------------ checkpoint


def test_interrupted_replay_resumes_without_publishing_twice(s3, tmp_path):
    # GIVEN 35 events over two objects, and a replay interrupted after its second PutEvents
    put_object(s3, partition(T0) + "a.json.gz", [archived(n) for n in range(20)])
    put_object(s3, partition(T0) + "b.json.gz", [archived(n) for n in range(20, 35)])
    checkpoint = tmp_path / "replay.checkpoint"
    first = FakeBus(stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        replayer(s3, first, checkpoint=checkpoint).run(window())
    # WHEN it is run again with the same window and checkpoint
    second = FakeBus()
    summary = replayer(s3, second, checkpoint=checkpoint).run(window())
    # THEN together the runs published every event exactly once
    ids = [json.loads(e["Detail"])["id"] for e in first.entries + second.entries]
    assert sorted(ids) == sorted(f"eb-{n:04d}" for n in range(35))
    assert summary.resumed_from == partition(T0) + "a.json.gz:20"
    assert (summary.already_done, summary.published) == (20, 15)


def test_checkpoint_of_another_window_is_refused(s3, tmp_path):
    # GIVEN a checkpoint written by a replay of another window
    put_object(s3, partition(T0) + "a.json.gz", [archived(1)])
    checkpoint = tmp_path / "replay.checkpoint"
    replayer(s3, FakeBus(), checkpoint=checkpoint).run(window())
    # WHEN another window is replayed with it
    # THEN it is refused with what to do
    with pytest.raises(ReplayError, match="belongs to another window"):
        replayer(s3, FakeBus(), checkpoint=checkpoint).run(window(sources=frozenset({"x"})))


def test_restart_ignores_the_checkpoint(s3, tmp_path):
    # GIVEN a finished replay with its checkpoint
    put_object(s3, partition(T0) + "a.json.gz", [archived(1)])
    checkpoint = tmp_path / "replay.checkpoint"
    replayer(s3, FakeBus(), checkpoint=checkpoint).run(window())
    # WHEN it is run again with restart
    bus = FakeBus()
    summary = replayer(s3, bus, checkpoint=checkpoint).run(window(), restart=True)
    # THEN everything is published again
    assert (summary.published, summary.already_done) == (1, 0)


def test_unreadable_checkpoint_is_a_sentence(s3, tmp_path):
    # GIVEN a corrupt checkpoint file
    checkpoint = tmp_path / "replay.checkpoint"
    checkpoint.write_text("{")
    # WHEN a replay resumes from it
    # THEN it is refused, saying how to start over
    with pytest.raises(ReplayError, match=r"unreadable .* delete it to start over"):
        replayer(s3, FakeBus(), checkpoint=checkpoint).run(window())


# ------------------------------------------------------------------ on moto's EventBridge


def test_wrapped_replay_reaches_a_rule_on_the_replay_source(s3):
    # GIVEN a bus with a rule on the replay source, to a queue
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS)
    url = sqs.create_queue(QueueName="replayed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="r", EventBusName=BUS, EventPattern=json.dumps({"source": [REPLAY_SOURCE]})
    )
    events.put_targets(Rule="r", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])
    original = archived(1)
    put_object(s3, partition(T0) + "a.json.gz", [original])
    # WHEN replayed onto moto's bus
    summary = replayer(s3, events).run(window())
    # THEN the delivered event carries the original, id included, as its detail
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    delivered = json.loads(message["Body"])
    assert summary.published == 1
    assert delivered["detail"] == original
    assert delivered["id"] != original["id"]  # the wrapper's own, new EventBridge id


def test_bus_archive_replay_starts_and_reports_completion(aws):
    # GIVEN a bus with an archive holding one event, and a rule to a queue
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    bus_arn = events.create_event_bus(Name=BUS)["EventBusArn"]
    events.create_archive(ArchiveName="bus-archive", EventSourceArn=bus_arn)
    url = sqs.create_queue(QueueName="consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="c", EventBusName=BUS, EventPattern=json.dumps({"source": ["orders"]}))
    events.put_targets(Rule="c", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])
    now = datetime.now(UTC)
    (put,) = events.put_events(
        Entries=[{"Source": "orders", "DetailType": "X", "Detail": "{}", "EventBusName": BUS}]
    )["Entries"]
    sqs.purge_queue(QueueUrl=url)
    # WHEN the window is replayed from the bus archive
    summary = replay_from_bus_archive(
        events,
        archive_name="bus-archive",
        bus_arn=bus_arn,
        window=Window(start=now - timedelta(minutes=5), end=now + timedelta(minutes=5)),
        replay_name="kahula-test-replay",
        sleep=lambda _: None,
    )
    # THEN it completes, and the consumer gets the event again marked with the replay's name
    assert (summary.state, summary.ok) == ("COMPLETED", True)
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    replayed = json.loads(message["Body"])
    assert replayed["replay-name"] == "kahula-test-replay"
    # moto gives the replayed event a new id; AWS documents no promise either way (README)
    assert replayed["id"] != put["EventId"]


def test_bus_archive_dry_run_starts_nothing(aws):
    # GIVEN a bus with an archive
    events = boto3.client("events", region_name=REGION)
    bus_arn = events.create_event_bus(Name=BUS)["EventBusArn"]
    events.create_archive(ArchiveName="bus-archive", EventSourceArn=bus_arn)
    # WHEN a dry run is asked
    summary = replay_from_bus_archive(
        events,
        archive_name="bus-archive",
        bus_arn=bus_arn,
        window=window(),
        replay_name="kahula-dry",
        dry_run=True,
    )
    # THEN nothing is started
    assert summary.state == "DRY_RUN"
    assert events.list_replays()["Replays"] == []


def test_bus_archive_replay_refuses_type_and_source_filters(aws):
    # GIVEN --type with --from-bus-archive
    # WHEN / THEN it is refused: EventBridge replays every archived event of the window
    with pytest.raises(ReplayError, match="choose rules with --rule"):
        replay_from_bus_archive(
            boto3.client("events", region_name=REGION),
            archive_name="a",
            bus_arn="arn",
            window=window(detail_types=frozenset({"X"})),
            replay_name="n",
        )


def test_checkpoint_file_is_small_json(s3, tmp_path):
    # GIVEN a finished replay
    put_object(s3, partition(T0) + "a.json.gz", [archived(1)])
    checkpoint = tmp_path / "replay.checkpoint"
    replayer(s3, FakeBus(), checkpoint=checkpoint).run(window())
    # WHEN the checkpoint is read
    saved = json.loads(Path(checkpoint).read_text())
    # THEN it names the last object key and line
    assert (saved["key"], saved["line"]) == (partition(T0) + "a.json.gz", 1)

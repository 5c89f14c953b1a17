"""`kahula put FILE`: per-line results, batches of ten, retries of failed entries only."""

from __future__ import annotations

import io
import json
from typing import Any

from cdk_app.cli.entries import BadInputLine, to_entry
from cdk_app.cli.output import ExitCode
from cdk_app.cli.publish import Publisher

EVENT = {"Source": "orders.service", "DetailType": "OrderUpdatedEvent", "Detail": {"n": 1}}


def _lines(*records: Any) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


def test_put_reports_each_line_published_or_refused_with_its_reason(tmp_path, cli):
    # GIVEN 12 usable lines, one line that is not JSON and one missing its detail
    good = [{**EVENT, "Detail": {"n": i}} for i in range(12)]
    path = tmp_path / "events.jsonl"
    path.write_text(_lines(*good[:5], "not json", *good[5:], {"Source": "a.b", "DetailType": "X"}))
    # WHEN they are put with --json
    ran = cli("--json", "put", str(path))
    # THEN one JSON line per input line, in order, each with its line number
    results = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [r["line"] for r in results] == list(range(1, 15))
    assert [r["ok"] for r in results].count(True) == 12
    assert results[5]["error_code"] == "BadInput"
    assert results[5]["error_message"].startswith("not JSON")
    assert results[13]["error_message"] == "missing Detail"
    assert all(r["event_id"] for r in results if r["ok"])
    # AND the command says some items failed
    assert ran.code == ExitCode.ITEMS_FAILED


def test_put_of_only_good_lines_exits_0_and_prints_a_table(tmp_path, cli):
    path = tmp_path / "events.jsonl"
    path.write_text(_lines(EVENT, EVENT))
    ran = cli("put", str(path))
    assert ran.code == ExitCode.OK, ran.stderr
    assert "2 published, 0 failed" in ran.stdout


def test_put_takes_one_json_document_a_list_or_an_object(tmp_path, cli):
    # GIVEN a pretty-printed list of an entry and an EventBridge event, and one object
    listed = tmp_path / "list.json"
    event = {"source": "orders.service", "detail-type": "OrderCreatedEvent", "detail": {}}
    listed.write_text(json.dumps([EVENT, event], indent=2))
    single = tmp_path / "one.json"
    single.write_text(json.dumps(EVENT, indent=2))
    # WHEN each is put
    many = [json.loads(x) for x in cli("--json", "put", str(listed)).stdout.splitlines()]
    one = [json.loads(x) for x in cli("--json", "put", str(single)).stdout.splitlines()]
    # THEN every element is published, referred to by its position
    assert [(r["ref"], r["ok"]) for r in many] == [("list.json[1]", True), ("list.json[2]", True)]
    assert [(r["ref"], r["ok"]) for r in one] == [("one.json:1", True)]


def test_put_reads_stdin_for_a_dash(cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(_lines(EVENT)))
    ran = cli("--json", "put", "-")
    assert json.loads(ran.stdout)["ref"] == "stdin:1"


def test_put_of_a_file_with_no_usable_line_is_a_usage_error(tmp_path, cli):
    path = tmp_path / "bad.jsonl"
    path.write_text("nope\n[1]\n")
    ran = cli("put", str(path))
    assert ran.code == ExitCode.USAGE
    assert "bad.jsonl:1" in ran.stdout


def test_put_of_a_missing_file_is_a_usage_error(cli):
    ran = cli("put", "/nonexistent/events.jsonl")
    assert ran.code == ExitCode.USAGE
    assert "no such file: /nonexistent/events.jsonl" in ran.stderr


def test_put_reads_a_file_saved_with_a_byte_order_mark_and_crlf_line_ends(tmp_path, cli):
    # GIVEN a file as a Windows editor saves it: a UTF-8 BOM, CRLF line ends
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _lines(EVENT, EVENT).replace("\n", "\r\n").encode())
    # WHEN it is put THEN both lines are published, the first included
    ran = cli("--json", "put", str(path))
    assert [json.loads(x)["ok"] for x in ran.stdout.splitlines()] == [True, True]
    assert ran.code == ExitCode.OK


def test_put_of_a_file_that_is_not_utf8_says_where_and_publishes_nothing(tmp_path, cli):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(_lines(EVENT).encode() + b'{"Source": "caf\xe9"}\n')
    ran = cli("put", str(path))
    assert ran.code == ExitCode.USAGE
    assert "not UTF-8 text (byte 0xe9 at offset" in ran.stderr
    assert "nothing was published" in ran.stderr
    assert ran.stdout == ""


def test_put_stores_nothing_silently_an_event_lands_on_the_bus(tmp_path, deployed, cli):
    # GIVEN a rule on the bus that copies every event to a queue
    sqs, events = deployed.client("sqs"), deployed.client("events")
    url = sqs.create_queue(QueueName="copy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all", EventBusName="kahula-events-dev", EventPattern='{"source": ["orders.service"]}'
    )
    events.put_targets(
        Rule="all", EventBusName="kahula-events-dev", Targets=[{"Id": "q", "Arn": arn}]
    )
    path = tmp_path / "events.jsonl"
    path.write_text(_lines({**EVENT, "Detail": {"metadata": {"event_id": "o-1"}}}))
    # WHEN it is put
    cli("put", str(path))
    # THEN the bus delivered it, detail intact
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"])["detail"] == {"metadata": {"event_id": "o-1"}}


# ---------------------------------------------------------------------- the publisher


class FakeEvents:
    """PutEvents that refuses the entries whose Detail holds a code, ``times`` times each."""

    def __init__(self, fail: dict[str, tuple[str, int]] | None = None, raise_for: str = "") -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail = dict(fail or {})
        self.raise_for = raise_for

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.raise_for and any(self.raise_for == e["Detail"] for e in Entries):
            raise ValueError("the request as a whole is invalid")
        answers = []
        for entry in Entries:
            code, times = self.fail.get(entry["Detail"], ("", 0))
            if times:
                self.fail[entry["Detail"]] = (code, times - 1)
                answers.append({"ErrorCode": code, "ErrorMessage": f"{code}!"})
            else:
                answers.append({"EventId": f"id-{entry['Detail']}"})
        return {"Entries": answers}


def _entries(n: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"f:{i}", {**EVENT, "Detail": str(i)}) for i in range(n)]


def test_publisher_sends_batches_of_ten():
    events = FakeEvents()
    results = list(Publisher(events, "bus").publish(_entries(23)))
    assert [len(c) for c in events.calls] == [10, 10, 3]
    assert all(r.ok for r in results)
    assert all(e["EventBusName"] == "bus" for c in events.calls for e in c)


def test_publisher_retries_only_the_entries_refused_for_a_transient_reason():
    # GIVEN entry 2 throttled once, entry 4 refused for good
    events = FakeEvents({"2": ("ThrottlingException", 1), "4": ("MalformedDetail", 99)})
    # WHEN 5 entries are published
    results = list(Publisher(events, "bus", sleep=lambda _: None).publish(_entries(5)))
    # THEN the retry carried entry 2 alone, and entry 4 failed at once with its reason
    assert [[e["Detail"] for e in c] for c in events.calls] == [["0", "1", "2", "3", "4"], ["2"]]
    assert results[2].ok and results[2].attempts == 2
    assert (results[4].error_code, results[4].attempts) == ("MalformedDetail", 1)


def test_publisher_gives_up_after_its_attempts():
    events = FakeEvents({"0": ("InternalFailure", 99)})
    (result,) = Publisher(events, "bus", attempts=3, sleep=lambda _: None).publish(_entries(1))
    assert (result.ok, result.error_code, result.attempts) == (False, "InternalFailure", 3)


def test_a_request_refused_as_a_whole_fails_only_the_entry_to_blame():
    events = FakeEvents(raise_for="1")
    results = list(Publisher(events, "bus").publish(_entries(3)))
    assert [r.ok for r in results] == [True, False, True]
    assert [len(c) for c in events.calls] == [3, 1, 1, 1]
    assert results[1].error_message == "the request as a whole is invalid"


def test_publisher_splits_a_batch_at_the_request_size_limit():
    big = "x" * 400_000
    entries = [(f"f:{i}", {**EVENT, "Detail": json.dumps({"b": big})}) for i in range(5)]
    events = FakeEvents()
    list(Publisher(events, "bus").publish(entries))
    assert [len(c) for c in events.calls] == [2, 2, 1]


def test_an_event_over_the_limit_is_refused_unsent():
    entry = {**EVENT, "Detail": json.dumps({"b": "x" * 1_100_000})}
    events = FakeEvents()
    (result,) = Publisher(events, "bus").publish([("f:1", entry)])
    assert result.error_code == "EntryTooLarge"
    assert events.calls == []


def test_an_entry_naming_another_bus_is_refused():
    events = FakeEvents()
    entry = {**EVENT, "Detail": "{}", "EventBusName": "someone-elses"}
    (result,) = Publisher(events, "bus").publish([("f:1", entry)])
    assert result.error_code == "OtherBus"


def test_a_bad_time_is_refused_before_publishing():
    try:
        to_entry({**EVENT, "Time": "yesterday"}, "f:1")
    except BadInputLine as exc:
        assert exc.reason.startswith("Time must be an ISO-8601 time")
    else:
        raise AssertionError("expected BadInputLine")


def test_an_eventbridge_event_keeps_its_time_and_resources():
    event = {
        "id": "e-1",
        "source": "a.b",
        "detail-type": "X",
        "time": "2026-11-22T05:00:00Z",
        "resources": ["arn:aws:s3:::b"],
        "detail": {"k": 1},
    }
    entry = to_entry(event, "f:1")
    assert entry == {
        "Source": "a.b",
        "DetailType": "X",
        "Time": "2026-11-22T05:00:00Z",
        "Resources": ["arn:aws:s3:::b"],
        "Detail": '{"k": 1}',
    }

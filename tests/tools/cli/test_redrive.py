"""`kahula redrive QUEUE`: reasons shown, retryable messages handed back to their target,
deleted only after that succeeded; conflicts and the unfixable stay."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kahula_core import spec

from cdk_app import stack_outputs as so
from cdk_app.cli.commands.redrive import _resolve_deletes
from cdk_app.cli.output import ExitCode, NotFoundError, UsageError

EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "OrderUpdatedEvent",
    "source": "orders.service",
    "account": "123456789012",
    "time": "2026-11-22T05:00:00Z",
    "region": "eu-west-1",
    "resources": [],
    "detail": {"metadata": {"event_id": "order-1"}, "n": 1},
}
MALFORMED = {**EVENT, "id": "e-2", "time": "not a time"}


class FakeLambda:
    def __init__(self, fail: bool = False) -> None:
        self.invoked: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = fail

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict:
        if self.fail:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "TooManyRequestsException"}}, "Invoke")
        self.invoked.append((FunctionName, InvocationType, json.loads(Payload)))
        return {"StatusCode": 202}


class FakeFirehose:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    def put_record_batch(self, *, DeliveryStreamName: str, Records: list[dict]) -> dict:
        self.records += [(DeliveryStreamName, r["Data"]) for r in Records]
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"}]}


@pytest.fixture
def lambda_(deployed) -> FakeLambda:
    deployed.fakes["lambda"] = FakeLambda()
    return deployed.fakes["lambda"]


def _send(deployed, name: str, body: Any, **attributes: str) -> None:
    kwargs: dict[str, Any] = {"QueueUrl": _url(deployed, name), "MessageBody": json.dumps(body)}
    if attributes:
        kwargs["MessageAttributes"] = {
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        }
    if name == "ingest-dlq":
        kwargs |= {"MessageGroupId": "tenant-a", "MessageDeduplicationId": str(len(str(body)))}
    deployed.client("sqs").send_message(**kwargs)


def _url(deployed, name: str) -> str:
    key = so.OPERATOR_QUEUES.get(name) or so.consumer_dlq_url("ValidatableEvent")
    return deployed.outputs[key]


def _left(deployed, url: str) -> list[dict[str, Any]]:
    return (
        deployed.client("sqs")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        .get("Messages", [])
    )


def _on_failure(event: dict[str, Any], error: str = "boom") -> dict[str, Any]:
    return {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responsePayload": {"errorType": "StoreUnavailableError", "errorMessage": error},
    }


def test_a_failed_event_is_invoked_again_on_the_persister_then_deleted(deployed, lambda_, cli):
    # GIVEN an on-failure record of a well-formed event
    _send(deployed, "failed", _on_failure(EVENT, "DynamoDB unavailable"))
    # WHEN the failure queue is redriven
    ran = cli("--json", "redrive", "failed")
    # THEN the persister got the original event itself (its EventBridge id kept), async
    assert lambda_.invoked == [("kahula-persister-dev", "Event", EVENT)]
    # AND the message shows its reason, is redriven and gone from the queue
    (item,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert item["reason"] == "StoreUnavailableError: DynamoDB unavailable"
    assert item["action"] == "redriven"
    assert _left(deployed, _url(deployed, "failed")) == []
    assert ran.code == ExitCode.OK


def test_a_still_malformed_event_stays_with_its_reason(deployed, lambda_, cli):
    # GIVEN an on-failure record of an event the persister refuses (a bad time)
    _send(deployed, "failed", _on_failure(MALFORMED))
    # WHEN redriven
    ran = cli("--json", "redrive", "failed")
    # THEN it is not invoked, stays on the queue (visible again), and says why
    (item,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert lambda_.invoked == []
    assert item["action"] == "kept"
    assert item["why_kept"].startswith("still malformed:")
    assert "time" in item["why_kept"]
    assert len(_left(deployed, _url(deployed, "failed"))) == 1
    assert ran.code == ExitCode.ITEMS_FAILED


@pytest.mark.parametrize(
    "original",
    [
        {**EVENT, "detail": {"metadata": {"event_id": {"not": "an id"}}}},
        {
            **EVENT,
            "detail": {"metadata": {"event_id": "x"}, "value": int("1234567890" * 4 + "123")},
        },
    ],
    ids=["bad id", "number too long"],
)
def test_a_replayed_event_whose_original_is_malformed_stays(deployed, lambda_, cli, original):
    # GIVEN the on-failure record of a replay wrapper around an event the persister refuses
    wrapper = {
        **EVENT,
        "id": "replay-1",
        "source": "kahula.replay",
        "detail-type": "Replayed",
        "detail": original,
    }
    _send(deployed, "failed", _on_failure(wrapper))
    # WHEN redriven
    ran = cli("--json", "redrive", "failed")
    # THEN it is judged as the persister judges it, by the original inside: kept, with why
    (item,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert lambda_.invoked == []
    assert item["action"] == "kept"
    assert item["why_kept"].startswith("still malformed:")
    assert "detail.detail" not in item["why_kept"]  # the original's fields, not the wrapper's


def test_a_conflict_is_shown_with_both_hashes_and_never_redriven(deployed, lambda_, cli):
    conflict = {
        "reason": "conflict: ...",
        "unique_id": "order-1",
        "differences": ["payload_hash"],
        "stored_payload_hash": "a" * 64,
        "incoming_payload_hash": "b" * 64,
        "stored_event_name": "OrderUpdatedEvent",
        "stored_source": "orders.service",
        "event": EVENT,
    }
    _send(deployed, "conflicts", conflict, reason="conflict")
    ran = cli("--json", "redrive", "conflicts")
    (item,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert (item["stored_payload_hash"], item["incoming_payload_hash"]) == ("a" * 64, "b" * 64)
    assert item["action"] == "kept"
    assert lambda_.invoked == []
    assert len(_left(deployed, _url(deployed, "conflicts"))) == 1


def test_a_rule_dlq_message_shows_the_rule_error_and_goes_to_the_persister(deployed, lambda_, cli):
    _send(
        deployed,
        "persister-undeliverable",
        EVENT,
        ERROR_CODE="SDK_CLIENT_ERROR",
        ERROR_MESSAGE="Lambda throttled",
    )
    ran = cli("--json", "redrive", "persister-undeliverable")
    (item,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert item["reason"] == "SDK_CLIENT_ERROR: Lambda throttled"
    assert lambda_.invoked == [("kahula-persister-dev", "Event", EVENT)]


def test_an_undeliverable_archive_event_goes_to_the_archive_stream(deployed, cli):
    deployed.fakes["firehose"] = firehose = FakeFirehose()
    _send(deployed, "archive-undeliverable", EVENT, ERROR_CODE="THROTTLING")
    cli("redrive", "archive-undeliverable")
    assert [(s, json.loads(d)) for s, d in firehose.records] == [("kahula-events-dev", EVENT)]


def test_an_undeliverable_follow_up_goes_to_its_types_queue(deployed, cli):
    follow_up = {**EVENT, "detail-type": "ValidatableEvent"}
    _send(deployed, "follow-ups-undeliverable", follow_up)
    cli("redrive", "follow-ups-undeliverable")
    (moved,) = _left(deployed, deployed.outputs[so.follow_up_queue_url("ValidatableEvent")])
    assert json.loads(moved["Body"]) == follow_up


def test_a_consumer_dlq_message_moves_back_to_its_queue(deployed, cli):
    follow_up = {**EVENT, "detail-type": "ValidatableEvent"}
    _send(deployed, "validatable-dlq", follow_up)
    ran = cli("redrive", "validatable-dlq")
    assert ran.code == ExitCode.OK, ran.stdout + ran.stderr
    (moved,) = _left(deployed, deployed.outputs[so.follow_up_queue_url("ValidatableEvent")])
    assert json.loads(moved["Body"]) == follow_up
    assert _left(deployed, _url(deployed, "validatable-dlq")) == []


def test_a_fifo_message_goes_back_to_its_tenants_group_and_an_unreadable_one_stays(deployed, cli):
    # GIVEN one message that hit the receive limit and one the consumer could not read
    _send(deployed, "ingest-dlq", {"tenant_id": "tenant-a", "event_id": "e-9", "payload": {}})
    _send(deployed, "ingest-dlq", {"event_id": "x"}, reason="message field 'tenant_id' ...")
    # WHEN redriven
    ran = cli("--json", "redrive", "ingest-dlq")
    # THEN the first is back on the FIFO queue, in its tenant's group; the second stays
    actions = sorted(json.loads(line)["action"] for line in ran.stdout.splitlines())
    assert actions == ["kept", "redriven"]
    (moved,) = deployed.client("sqs").receive_message(
        QueueUrl=deployed.outputs[so.INGEST_QUEUE_URL], AttributeNames=["MessageGroupId"]
    )["Messages"]
    assert moved["Attributes"]["MessageGroupId"] == "tenant-a"
    assert json.loads(moved["Body"])["event_id"] == "e-9"


def test_a_dry_run_changes_nothing_and_exits_0(deployed, lambda_, cli):
    _send(deployed, "failed", _on_failure(EVENT))
    _send(deployed, "failed", _on_failure(MALFORMED))
    ran = cli("--json", "redrive", "failed", "--dry-run")
    actions = sorted(json.loads(line)["action"] for line in ran.stdout.splitlines())
    assert actions == ["kept", "would redrive"]
    assert lambda_.invoked == []
    assert len(_left(deployed, _url(deployed, "failed"))) == 2
    assert ran.code == ExitCode.OK


def test_max_limits_the_messages_examined(deployed, lambda_, cli):
    for _ in range(5):
        _send(deployed, "failed", _on_failure(EVENT))
    ran = cli("--json", "redrive", "failed", "--max", "3")
    assert len(ran.stdout.splitlines()) == 3
    assert len(lambda_.invoked) == 3


def test_a_redrive_that_fails_keeps_the_message(deployed, cli):
    deployed.fakes["lambda"] = FakeLambda(fail=True)
    _send(deployed, "failed", _on_failure(EVENT))
    ran = cli("--json", "redrive", "failed")
    (item,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert item["action"] == "failed"
    assert "TooManyRequestsException" in item["why_kept"]
    assert len(_left(deployed, _url(deployed, "failed"))) == 1
    assert ran.code == ExitCode.ITEMS_FAILED


def test_an_unknown_queue_is_a_usage_error_listing_the_queues(cli):
    ran = cli("redrive", "nope")
    assert ran.code == ExitCode.USAGE
    assert "no queue 'nope'" in ran.stderr
    assert "validatable-dlq" in ran.stderr


def test_an_empty_queue_says_so(cli):
    ran = cli("redrive", "failed")
    assert ran.code == ExitCode.OK
    assert "queue failed is empty" in ran.stdout


def test_the_help_lists_every_queue(cli, capsys):
    cli("redrive", "--help")
    out = capsys.readouterr().out
    for name in [*so.OPERATOR_QUEUES, "<type>-dlq"]:
        assert f"  {name} " in out


def test_a_malformed_event_is_exported_fixed_put_and_then_deleted(deployed, lambda_, cli, tmp_path):
    # GIVEN a malformed event on the failure queue
    _send(deployed, "failed", _on_failure(MALFORMED))
    # WHEN it is exported (it stays), fixed in the file, and put
    stuck = tmp_path / "stuck.jsonl"
    ran = cli("--json", "redrive", "failed", "--export", str(stuck))
    (item,) = [json.loads(line) for line in ran.stdout.splitlines()]
    (exported,) = [json.loads(line) for line in stuck.read_text().splitlines()]
    assert exported == MALFORMED
    stuck.write_text(json.dumps({**exported, "time": "2026-11-22T05:00:00Z"}) + "\n")
    assert cli("put", str(stuck)).code == ExitCode.OK
    # AND its message is deleted deliberately, by the id prefix the table shows
    ran = cli("--json", "redrive", "failed", "--delete", item["message_id"][:8])
    # THEN the queue is empty and nothing was invoked
    assert [json.loads(line)["action"] for line in ran.stdout.splitlines()] == ["deleted"]
    assert ran.code == ExitCode.OK
    assert _left(deployed, _url(deployed, "failed")) == []
    assert lambda_.invoked == []


def test_a_dry_run_deletes_nothing(deployed, lambda_, cli):
    _send(deployed, "failed", _on_failure(MALFORMED))
    (message,) = _left(deployed, _url(deployed, "failed"))
    deployed.client("sqs").change_message_visibility(
        QueueUrl=_url(deployed, "failed"),
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    ran = cli("--json", "redrive", "failed", "--dry-run", "--delete", message["MessageId"])
    assert [json.loads(line)["action"] for line in ran.stdout.splitlines()] == ["would delete"]
    assert len(_left(deployed, _url(deployed, "failed"))) == 1


def test_delete_of_a_message_not_received_is_not_found_and_touches_nothing(deployed, lambda_, cli):
    # GIVEN a failure queue with one malformed event
    _send(deployed, "failed", _on_failure(MALFORMED))
    # WHEN --delete names a message that is not there
    ran = cli("redrive", "failed", "--delete", "00000000-not-a-message")
    # THEN exit 4 with one sentence, the message is visible again at once, nothing invoked
    assert ran.code == ExitCode.NOT_FOUND
    assert "--delete 00000000-not-a-message: no such message among the 1 received" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert len(_left(deployed, _url(deployed, "failed"))) == 1
    assert lambda_.invoked == []


def test_delete_by_a_prefix_two_messages_share_is_refused():
    # GIVEN two received messages whose ids share their first eight characters
    ids = ["9b75c56d-aaaa", "9b75c56d-bbbb", "1234abcd-cccc"]
    # WHEN --delete names that shared prefix THEN refused (it would delete both), naming it
    with pytest.raises(UsageError, match="--delete 9b75c56d matches 2 messages"):
        _resolve_deletes(frozenset({"9b75c56d"}), ids)
    # AND an exact id or a unique prefix resolves to exactly its message
    assert _resolve_deletes(frozenset({"9b75c56d-bbbb", "1234abcd"}), ids) == {
        "9b75c56d-bbbb",
        "1234abcd-cccc",
    }
    # AND a prefix shorter than eight characters names nothing
    with pytest.raises(NotFoundError):
        _resolve_deletes(frozenset({"9b75"}), ids)


def test_an_archive_event_over_firehoses_record_limit_is_written_into_the_hour_partition(
    deployed, cli
):
    # GIVEN an event EventBridge carried (under 1 MiB) whose archive line is over Firehose's
    # 1,000 KiB record limit, on the archive rule's DLQ
    deployed.fakes["firehose"] = firehose = FakeFirehose()
    big = {**EVENT, "detail": {"blob": "x" * (spec.FIREHOSE_MAX_RECORD_BYTES + 10)}}
    assert len(json.dumps(big)) < spec.EVENTBRIDGE_MAX_EVENT_BYTES
    _send(deployed, "archive-undeliverable", big, ERROR_CODE="SDK_CLIENT_ERROR")
    before = datetime.now(UTC)
    # WHEN redriven
    ran = cli("--json", "redrive", "archive-undeliverable")
    # THEN it is not offered to Firehose but written as one gzipped line in this hour's
    # partition, and the message is gone
    assert ran.code == ExitCode.OK, ran.stderr
    (item,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert item["action"] == "redriven"
    assert firehose.records == []
    s3 = deployed.client("s3")
    (obj,) = s3.list_objects_v2(Bucket="kahula-archive-dev")["Contents"]
    hours = {spec.archive_hour_prefix(before), spec.archive_hour_prefix(datetime.now(UTC))}
    assert any(obj["Key"].startswith(hour) for hour in hours)
    assert obj["Key"].endswith(".gz")
    body = s3.get_object(Bucket="kahula-archive-dev", Key=obj["Key"])["Body"].read()
    (line,) = gzip.decompress(body).decode().splitlines()
    assert json.loads(line) == big
    assert _left(deployed, _url(deployed, "archive-undeliverable")) == []


def test_an_archive_event_at_firehoses_record_limit_still_goes_to_the_stream(deployed, cli):
    # GIVEN an event whose archive line is exactly Firehose's record limit
    deployed.fakes["firehose"] = firehose = FakeFirehose()
    padding = spec.FIREHOSE_MAX_RECORD_BYTES - len(json.dumps({**EVENT, "detail": {"blob": ""}}))
    exact = {**EVENT, "detail": {"blob": "x" * padding}}
    assert len(json.dumps(exact)) == spec.FIREHOSE_MAX_RECORD_BYTES
    _send(deployed, "archive-undeliverable", exact)
    cli("redrive", "archive-undeliverable")
    # THEN Firehose takes it, as it takes any record within its limit
    assert [json.loads(d) for _, d in firehose.records] == [exact]

"""The persister end to end through its Lambda entry point, against moto."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from kahula_core import spec
from kahula_core.attributes import from_attribute_value
from kahula_core.errors import EnvelopeError, FollowUpEmissionError, KeyTooLongError
from kahula_core.follow_ups import follow_up_id
from kahula_core.hashing import canonical_json
from persister import handler


def test_redelivery_three_times_gives_one_item(aws, invoke, event):
    # GIVEN an event EventBridge delivers three times (at-least-once)
    order = event("order_updated")
    # WHEN each delivery is handled
    outcomes = [invoke(order)["outcome"] for _ in range(3)]
    # THEN one item is stored and the repeats are counted as duplicates
    assert outcomes == ["persisted", "duplicate", "duplicate"]
    assert [i["unique_id"]["S"] for i in aws.items()] == ["order-1001-v3"]


def test_redelivery_with_new_eventbridge_id_is_still_a_duplicate(aws, invoke, event):
    # GIVEN a producer that retried PutEvents: same producer event id, new EventBridge id
    first, retry = event("order_updated"), event("order_updated")
    retry["id"] = "11111111-2222-4333-8444-555555555555"
    # WHEN both arrive
    invoke(first)
    outcome = invoke(retry)
    # THEN the retry maps to the same item and is not a conflict
    assert outcome["outcome"] == "duplicate"
    assert len(aws.items()) == 1


def test_stored_item_carries_the_whole_contract(aws, invoke, event):
    # GIVEN an event with every contract field present
    order = event("order_updated")
    # WHEN it is persisted
    invoke(order)
    # THEN every field of the data contract is on the item
    item = aws.item("order-1001-v3")
    assert item is not None
    assert item["aws_id"] == {"S": order["id"]}
    assert item["event_name"] == {"S": "OrderUpdatedEvent"}
    assert item["source"] == {"S": "orders.service"}
    assert item["timestamp"] == {"S": "2026-11-20T10:15:30.000000Z"}
    assert item["domain"] == {"S": "orders"}
    assert item["saga_id"] == {"S": "saga-42"}
    assert item["mbocdp_id"] == {"S": "mbo-7"}
    assert item["persisted_at"]["S"].endswith("Z")
    assert len(item["payload_hash"]["S"]) == 64
    assert from_attribute_value(item["payload"]) == json.loads(
        json.dumps(order["detail"]), parse_float=Decimal
    )


def test_absent_optional_ids_are_omitted_not_empty(aws, invoke, event):
    # GIVEN an event with no metadata at all
    shipment = event("shipment_created")
    # WHEN it is persisted
    invoke(shipment)
    # THEN unique_id falls back to the EventBridge id, domain to the source's first segment,
    # and saga_id / mbocdp_id are simply absent
    item = aws.item(shipment["id"])
    assert item is not None
    assert item["domain"] == {"S": "logistics"}
    assert "saga_id" not in item
    assert "mbocdp_id" not in item


def test_conflict_does_not_overwrite_and_is_quarantined(aws, invoke, event):
    # GIVEN a stored event
    original = event("order_updated")
    invoke(original)
    stored = aws.item("order-1001-v3")
    # WHEN another event arrives with the same unique_id but a different payload
    clash = event("order_updated")
    clash["detail"]["status"] = "REFUNDED"
    outcome = invoke(clash)
    # THEN nothing is overwritten, and the clash is on the conflicts queue with both hashes
    assert outcome["outcome"] == "conflict"
    assert aws.item("order-1001-v3") == stored
    (report,) = aws.conflicts()
    assert report["unique_id"] == "order-1001-v3"
    assert report["stored_payload_hash"] == stored["payload_hash"]["S"]
    assert report["incoming_payload_hash"] != report["stored_payload_hash"]
    assert report["event"] == clash
    assert report["reason"].startswith("conflict")


def test_conflict_emits_no_follow_up(aws, invoke, event):
    # GIVEN a stored *UpdatedEvent whose follow-up was already emitted
    invoke(event("order_updated"))
    aws.follow_ups()
    clash = event("order_updated")
    clash["detail"]["status"] = "REFUNDED"
    # WHEN a conflicting event with the same id arrives
    invoke(clash)
    # THEN no follow-up is emitted for it
    assert aws.follow_ups() == []


def test_saga_and_timestamp_changes_are_not_conflicts(aws, invoke, event):
    # GIVEN a stored event
    invoke(event("order_updated"))
    # WHEN the same event comes back with another saga id and metadata timestamp
    replay = event("order_updated")
    replay["detail"]["metadata"]["saga_id"] = "saga-99"
    replay["detail"]["metadata"]["timestamp"] = "2026-11-21T00:00:00Z"
    replay["time"] = "2026-11-21T00:00:01Z"
    # THEN it hashes the same and is a duplicate
    assert invoke(replay)["outcome"] == "duplicate"


@pytest.mark.parametrize(
    ("sample", "expected_type"),
    [("order_updated", "ValidatableEvent"), ("customer_validated", "IndexableEvent")],
)
def test_updated_and_validated_events_yield_their_follow_up(
    aws, invoke, event, sample, expected_type
):
    # GIVEN an *UpdatedEvent or *ValidatedEvent
    source_event = event(sample)
    # WHEN it is persisted
    result = invoke(source_event)
    # THEN exactly one follow-up of the right type lands on the bus, carrying the contract
    (follow_up,) = aws.follow_ups()
    unique_id = result["unique_id"]
    assert follow_up["detail-type"] == expected_type
    assert follow_up["source"] == "kahula.event-persister"
    detail = follow_up["detail"]
    assert detail["follow_up_id"] == follow_up_id(expected_type, unique_id)
    assert detail["source_unique_id"] == unique_id
    assert detail["source_event_name"] == source_event["detail-type"]
    assert detail["metadata"]["saga_id"] == source_event["detail"]["metadata"]["saga_id"]
    assert detail["domain"] == aws.item(unique_id)["domain"]["S"]
    # and the follow-up carries its own id where the contract looks, so it is stored once
    assert detail["metadata"]["event_id"] == detail["follow_up_id"]
    # and the source event's domain where the contract looks, so the stored follow-up keeps
    # it (without it the follow-up's domain would fall back to its own source, "kahula")
    assert detail["metadata"]["domain"] == aws.item(unique_id)["domain"]["S"]
    stored = invoke(follow_up)
    assert aws.item(stored["unique_id"])["domain"] == aws.item(unique_id)["domain"]


@pytest.mark.parametrize(
    "sample", ["shipment_created", "validatable_follow_up", "spoofed_follow_up_source"]
)
def test_other_events_and_follow_ups_yield_nothing(aws, invoke, event, sample):
    # GIVEN a plain event, a follow-up, or an *UpdatedEvent from the follow-up source
    # WHEN it is persisted
    result = invoke(event(sample))
    # THEN it is stored and no follow-up is emitted
    assert result["outcome"] == "persisted"
    assert result["follow_ups"] == []
    assert aws.follow_ups() == []


def test_duplicate_re_emits_the_same_follow_up(aws, invoke, event):
    # GIVEN an *UpdatedEvent persisted once (its follow-up emitted)
    order = event("order_updated")
    invoke(order)
    (first,) = aws.follow_ups()
    # WHEN it is redelivered (the first attempt might have crashed before emitting)
    invoke(order)
    # THEN the follow-up is emitted again with the same follow_up_id, for consumers to dedupe
    (second,) = aws.follow_ups()
    assert second["detail"]["follow_up_id"] == first["detail"]["follow_up_id"]


def test_follow_up_redelivered_to_the_persister_is_stored_once(aws, invoke, event):
    # GIVEN an *UpdatedEvent and the follow-up it produced, emitted twice
    invoke(event("order_updated"))
    invoke(event("order_updated"))
    follow_ups = aws.follow_ups()
    assert len(follow_ups) == 2
    # WHEN both follow-ups reach the persister (every event on the bus does)
    outcomes = [invoke(f)["outcome"] for f in follow_ups]
    # THEN the follow-up is stored once: same unique_id despite distinct EventBridge ids
    assert outcomes == ["persisted", "duplicate"]
    assert len(aws.items()) == 2


def test_redelivery_under_another_saga_re_emits_a_follow_up_that_is_a_duplicate(aws, invoke, event):
    # GIVEN an *UpdatedEvent, then the producer's retry of it under a new saga id
    first, retry = event("order_updated"), event("order_updated")
    retry["detail"]["metadata"]["saga_id"] = "saga-43"
    invoke(first)
    invoke(retry)
    follow_ups = aws.follow_ups()
    # WHEN both follow-ups reach the persister
    outcomes = [invoke(f)["outcome"] for f in follow_ups]
    # THEN the second is a duplicate of the first, not a conflict
    assert outcomes == ["persisted", "duplicate"]
    assert aws.conflicts() == []


def test_put_events_partial_failure_then_success_retries_only_the_failed_entry(aws, invoke, event):
    # GIVEN PutEvents that rejects the entry once, then accepts it
    client = handler.pipeline().emitter._client()
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}],
            },
        )
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "ok"}]})
        handler.pipeline().emitter._sleep = lambda _s: None
        # WHEN an *UpdatedEvent is persisted
        result = invoke(event("order_updated"))
        # THEN the follow-up went out on the second call and the write stood
        stub.assert_no_pending_responses()
    assert result["outcome"] == "persisted"
    assert len(result["follow_ups"]) == 1


def test_put_events_that_keeps_failing_raises_so_lambda_retries(aws, invoke, event):
    # GIVEN PutEvents that rejects the entry on every attempt
    client = handler.pipeline().emitter._client()
    handler.pipeline().emitter._sleep = lambda _s: None
    rejected = {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "boom"}],
    }
    with Stubber(client) as stub:
        for _ in range(4):
            stub.add_response("put_events", rejected)
        # WHEN an *UpdatedEvent is persisted
        # THEN the invocation fails with a message naming the problem
        with pytest.raises(FollowUpEmissionError, match="InternalFailure"):
            invoke(event("order_updated"))
    # and the write itself stood, so Lambda's retry is a duplicate that re-emits
    assert aws.item("order-1001-v3") is not None
    handler.pipeline().emitter._client = lambda: aws.events
    assert invoke(event("order_updated"))["outcome"] == "duplicate"
    assert len(aws.follow_ups()) == 1


def test_dynamodb_throttling_surfaces_and_writes_nothing(aws, invoke, event):
    # GIVEN DynamoDB throttling every write
    client = handler.pipeline().store._client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_item",
            service_error_code="ProvisionedThroughputExceededException",
            http_status_code=400,
        )
        # WHEN an *UpdatedEvent arrives
        # THEN the error surfaces (Lambda retries the invocation) ...
        with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
            invoke(event("order_updated"))
    # ... and nothing is half-done: no item, no follow-up
    assert aws.items() == []
    assert aws.follow_ups() == []


def test_oversize_detail_goes_to_an_s3_claim_check(aws, invoke, event):
    # GIVEN an event whose item would exceed DynamoDB's 400 KB limit (EventBridge allows 1 MB)
    big = event("order_updated")
    big["detail"]["blob"] = "x" * 600_000
    # WHEN it is persisted
    result = invoke(big)
    # THEN it succeeds, the item points at S3 instead of holding the payload ...
    assert result["outcome"] == "persisted"
    item = aws.item("order-1001-v3")
    assert "payload" not in item
    claim = from_attribute_value(item["payload_claim_check"])
    assert claim["bucket"] == aws.bucket
    assert claim["key"].startswith("oversize-payloads/detail/")
    # ... and the object holds the exact detail, matching the hash in the claim
    body = aws.s3.get_object(Bucket=claim["bucket"], Key=claim["key"])["Body"].read()
    assert json.loads(body) == big["detail"]
    assert hashlib.sha256(body).hexdigest() == claim["sha256"]
    assert body == canonical_json(big["detail"])
    # ... and a redelivery is still a duplicate
    assert invoke(big)["outcome"] == "duplicate"


def test_oversize_conflict_keeps_both_payloads(aws, invoke, event):
    # GIVEN a stored oversize event
    big = event("order_updated")
    big["detail"]["blob"] = "x" * 600_000
    invoke(big)
    first_claim = from_attribute_value(aws.item("order-1001-v3")["payload_claim_check"])
    # WHEN a conflicting oversize event with the same id arrives
    clash = event("order_updated")
    clash["detail"]["blob"] = "y" * 600_000
    assert invoke(clash)["outcome"] == "conflict"
    # THEN the stored claim check still points at the original, untouched payload
    body = aws.s3.get_object(Bucket=aws.bucket, Key=first_claim["key"])["Body"].read()
    assert json.loads(body)["blob"] == "x" * 600_000
    assert len(aws.conflicts()) == 1


def test_malformed_event_raises_its_specific_error_and_writes_nothing(aws, invoke, event):
    # GIVEN an event with no detail-type
    broken = event("order_updated")
    del broken["detail-type"]
    # WHEN it is handled THEN a specific error names the problem (the on-failure queue keeps
    # the event with this message) and nothing is written
    with pytest.raises(EnvelopeError, match="no 'detail-type' field"):
        invoke(broken)
    assert aws.items() == []


def test_unicode_deep_nesting_and_numbers_round_trip(aws, invoke, event):
    # GIVEN a detail with unicode, 30 levels of nesting and awkward numbers
    tricky = event("shipment_created")
    nested: dict = {"leaf": "ü"}
    for level in range(29):
        nested = {f"l{level}": nested}
    tricky["detail"] = {
        "text": "naïve café — 日本語 🚀 \u0000 \t",
        "nested": nested,
        "float": 0.1,
        "tiny": 1e-120,
        "big_int": 12345678901234567890123456789012345678,
        "negative": -9.87654321e100,
        "mixed": [1, 2.5, "three", None, True, {"k": []}],
        "empty": {"s": "", "l": [], "m": {}},
    }
    # WHEN it is persisted and read back
    invoke(tricky)
    stored = from_attribute_value(aws.item(tricky["id"])["payload"])
    # THEN every value comes back exactly (numbers as the decimals the producer wrote)
    assert stored["text"] == tricky["detail"]["text"]
    assert stored["nested"] == nested
    assert stored["float"] == Decimal("0.1")
    assert stored["tiny"] == Decimal("1e-120")
    assert stored["big_int"] == Decimal(12345678901234567890123456789012345678)
    assert stored["negative"] == Decimal("-9.87654321e100")
    assert stored["mixed"] == [Decimal(1), Decimal("2.5"), "three", None, True, {"k": []}]
    assert stored["empty"] == {"s": "", "l": [], "m": {}}


def test_at_info_a_stored_event_writes_nothing_and_a_duplicate_is_logged_and_counted(
    aws, invoke, event, capfd, caplog
):
    # GIVEN the default INFO level WHEN an event is stored
    caplog.set_level("DEBUG")  # record everything the handler lets through its own level
    invoke(event("shipment_created"))
    stored_logs = [r.getMessage() for r in caplog.records]
    stored_out = capfd.readouterr().out
    caplog.clear()
    # AND WHEN it is redelivered
    invoke(event("shipment_created"))
    duplicate_out = capfd.readouterr().out
    # THEN storing wrote no EMF line and no log line (Lambda's own metrics count it)
    assert "_aws" not in stored_out
    assert "event persisted" not in stored_logs
    # AND the duplicate is logged, naming the hash already stored, and counted in one EMF line
    (line,) = [r for r in caplog.records if r.getMessage() == "event duplicate"]
    assert line.stored_payload_hash == line.payload_hash
    assert line.stored_payload_hash is not None
    (emf,) = [json.loads(line) for line in duplicate_out.splitlines() if '"_aws"' in line]
    assert emf["DuplicateEvents"] == [1.0]
    assert "EventsPersisted" not in emf


def test_a_follow_up_is_counted_in_an_emf_line(aws, invoke, event, capfd):
    # GIVEN an *UpdatedEvent WHEN it is stored and its follow-up emitted
    invoke(event("order_updated"))
    out = capfd.readouterr().out
    # THEN one EMF line counts the follow-up (and nothing counts the stored event itself)
    (emf,) = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert emf["FollowUpsEmitted"] == [1.0]
    assert "EventsPersisted" not in emf


@pytest.mark.parametrize(
    "change",
    [
        ("detail-type", "CustomerUpdatedEvent", "event_name"),
        ("source", "billing.service", "source"),
    ],
)
def test_same_id_and_detail_with_another_type_or_source_is_a_conflict(aws, invoke, event, change):
    field, value, difference = change
    # GIVEN a stored *UpdatedEvent whose follow-up went out
    invoke(event("order_updated"))
    stored = aws.item("order-1001-v3")
    aws.follow_ups()
    # WHEN an event with the same id and detail but another detail-type or source arrives
    other = event("order_updated")
    other[field] = value
    outcome = invoke(other)
    # THEN it is a conflict: nothing overwritten, quarantined with the reason, no follow-up
    assert outcome == {"unique_id": "order-1001-v3", "outcome": "conflict", "follow_ups": []}
    assert aws.item("order-1001-v3") == stored
    (report,) = aws.conflicts()
    assert report["differences"] == [difference]
    assert report["event"] == other
    assert difference in report["reason"]
    assert aws.follow_ups() == []


def test_a_saga_id_over_the_key_limit_is_refused_at_once_and_nothing_is_written(aws, invoke, event):
    # GIVEN the prod by-saga index and a saga id one byte over DynamoDB's partition-key limit
    long_saga = event("order_updated")
    long_saga["detail"]["metadata"]["saga_id"] = "s" * 2049
    # WHEN it is handled THEN it is refused as malformed, naming the field and the limit
    with pytest.raises(KeyTooLongError, match=r"saga_id is 2049 bytes .* at most 2048 bytes"):
        invoke(long_saga)
    assert aws.items() == []


def test_a_follow_up_rule_added_by_configuration_is_emitted(aws, invoke, event, monkeypatch):
    # GIVEN the function configured with a third rule (the construct encodes it)
    rules = (*spec.DEFAULT_FOLLOW_UP_RULES, spec.FollowUpRule("CreatedEvent", "ArchivableEvent"))
    monkeypatch.setenv(spec.Env.FOLLOW_UP_RULES, spec.encode_follow_up_rules(rules))
    handler.use_pipeline(None)
    # WHEN a *CreatedEvent is persisted
    shipment = event("shipment_created")
    result = invoke(shipment)
    # THEN its follow-up of the new type goes out
    (follow_up,) = aws.follow_ups()
    assert follow_up["detail-type"] == "ArchivableEvent"
    assert result["follow_ups"] == [follow_up_id("ArchivableEvent", shipment["id"])]

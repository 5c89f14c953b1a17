"""What an operator reads on the conflicts queue: every field, exactly, small or oversize.

mutmut found the report's fields barely checked (a wrong attribute name left the incoming
hash empty and no test noticed); these tests pin each one.
"""

from __future__ import annotations

import hashlib
import json

from kahula_core.hashing import payload_hash
from kahula_core.settings import Settings


def _received(aws):
    """Raw conflict messages (body parsed, attributes kept), drained."""
    out = []
    while True:
        batch = aws.sqs.receive_message(
            QueueUrl=aws.conflicts_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            out.append((json.loads(message["Body"]), message.get("MessageAttributes", {})))
            aws.sqs.delete_message(
                QueueUrl=aws.conflicts_url, ReceiptHandle=message["ReceiptHandle"]
            )


def _hash(event):
    return payload_hash(event["detail"], Settings().hash_excluded_paths)


def test_a_conflict_report_names_both_events_field_by_field(aws, invoke, event):
    # GIVEN a stored event and another with its id, another type and another payload
    original = event("order_updated")
    invoke(original)
    clash = event("order_updated")
    clash["detail-type"] = "OrderCancelledEvent"
    clash["detail"]["status"] = "CANCELLED"
    # WHEN it arrives
    invoke(clash)
    # THEN the report says exactly what differs, with both sides, and keeps the event
    ((report, attributes),) = _received(aws)
    assert attributes["reason"]["StringValue"] == "conflict"
    assert report == {
        "reason": (
            "conflict: an item with this unique_id is already stored as another event "
            "(different event_name, payload_hash); nothing was overwritten"
        ),
        "unique_id": "order-1001-v3",
        "differences": ["event_name", "payload_hash"],
        "stored_payload_hash": _hash(original),
        "incoming_payload_hash": _hash(clash),
        "stored_event_name": original["detail-type"],
        "stored_source": original["source"],
        "event": clash,
    }


def test_an_oversize_conflict_keeps_the_event_in_s3_and_points_at_it(aws, invoke, event):
    # GIVEN a stored event, and a conflicting one too large for an SQS message (1 MiB)
    invoke(event("order_updated"))
    clash = event("order_updated")
    clash["detail"]["notes"] = "x" * 1_100_000
    # WHEN it arrives
    invoke(clash)
    # THEN the report holds no event but a claim check whose object is the event, byte-exact
    ((report, _),) = _received(aws)
    assert report["event"] is None
    claim = report["event_claim_check"]
    assert set(claim) == {"bucket", "key", "sha256", "size_bytes"}
    assert claim["bucket"] == aws.bucket
    body = aws.s3.get_object(Bucket=claim["bucket"], Key=claim["key"])["Body"].read()
    assert json.loads(body) == clash
    assert hashlib.sha256(body).hexdigest() == claim["sha256"]
    assert len(body) == claim["size_bytes"]
    assert claim["key"].startswith("oversize-payloads/conflicts/")
    assert report["incoming_payload_hash"] == _hash(clash)

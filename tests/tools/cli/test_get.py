"""`kahula get ID`: the stored event, strongly consistent, claim check restored."""

from __future__ import annotations

import hashlib
import json

from cdk_app.cli.output import ExitCode


def _store(deployed, item):
    deployed.client("dynamodb").put_item(TableName="kahula-events-dev", Item=item)


BASE = {
    "unique_id": {"S": "order-1"},
    "event_name": {"S": "OrderCreatedEvent"},
    "source": {"S": "orders.service"},
    "timestamp": {"S": "2026-11-22T05:00:00.000000Z"},
    "domain": {"S": "orders"},
    "payload_hash": {"S": "ab" * 32},
    "aws_id": {"S": "e-1"},
    "persisted_at": {"S": "2026-11-22T05:00:01.000000Z"},
}


def test_get_prints_the_stored_event_as_json(deployed, cli):
    # GIVEN a stored event
    _store(deployed, {**BASE, "payload": {"M": {"total": {"N": "129.95"}, "qty": {"N": "2"}}}})
    # WHEN it is read with --json
    ran = cli("--json", "get", "order-1")
    # THEN one JSON document with its fields and its detail, numbers as the producer sent them
    assert ran.code == ExitCode.OK, ran.stderr
    event = json.loads(ran.stdout)
    assert event["unique_id"] == "order-1"
    assert event["event_name"] == "OrderCreatedEvent"
    assert event["detail"] == {"total": 129.95, "qty": 2}


def test_get_restores_a_claim_checked_detail(deployed, cli):
    # GIVEN an event whose detail is in S3 (claim check)
    body = json.dumps({"big": "x" * 1000}).encode()
    deployed.client("s3").put_object(
        Bucket="kahula-archive-dev", Key="oversize-payloads/k", Body=body
    )
    claim = {
        "bucket": {"S": "kahula-archive-dev"},
        "key": {"S": "oversize-payloads/k"},
        "sha256": {"S": hashlib.sha256(body).hexdigest()},
        "size_bytes": {"N": str(len(body))},
    }
    _store(deployed, {**BASE, "payload_claim_check": {"M": claim}})
    # WHEN it is read
    ran = cli("--json", "get", "order-1")
    # THEN the detail is the object's, and the claim check is shown
    event = json.loads(ran.stdout)
    assert event["detail"] == {"big": "x" * 1000}
    assert event["payload_claim_check"]["key"] == "oversize-payloads/k"


def test_get_of_an_unknown_id_is_exit_4(cli):
    ran = cli("get", "nope")
    assert ran.code == ExitCode.NOT_FOUND
    assert "no event stored under unique_id 'nope'" in ran.stderr


def test_get_prints_a_table_for_people(deployed, cli):
    _store(deployed, {**BASE, "payload": {"M": {"qty": {"N": "2"}}}})
    ran = cli("get", "order-1")
    assert ran.code == ExitCode.OK
    assert "OrderCreatedEvent" in ran.stdout
    assert '"qty": 2' in ran.stdout


def test_get_of_an_event_whose_claim_check_was_deleted_says_so(deployed, cli):
    # GIVEN a stored event whose claim-check object no longer exists
    claim = {
        "bucket": {"S": "kahula-archive-dev"},
        "key": {"S": "oversize-payloads/gone"},
        "sha256": {"S": "00" * 32},
        "size_bytes": {"N": "10"},
    }
    _store(deployed, {**BASE, "payload_claim_check": {"M": claim}})
    # WHEN it is read
    ran = cli("get", "order-1")
    # THEN a sentence naming the missing object, exit 1, no traceback
    assert ran.code == ExitCode.ITEMS_FAILED
    assert "stored but its detail is unavailable" in ran.stderr
    assert "oversize-payloads/gone" in ran.stderr and "Traceback" not in ran.stderr


def test_get_of_an_empty_id_is_a_usage_error(cli):
    ran = cli("get", " ")
    assert ran.code == ExitCode.USAGE
    assert "ID is empty" in ran.stderr


def test_get_of_a_very_long_unknown_id_names_its_start_and_length_only(cli):
    ran = cli("get", "a" * 3000)
    assert ran.code == ExitCode.NOT_FOUND
    assert f"{'a' * 200}' (the first 200 of 3000 characters)" in ran.stderr
    assert "a" * 201 not in ran.stderr

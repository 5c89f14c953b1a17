"""The local pipeline's speed levers keep its answers: batches within the services' limits,
moto put back as it was, and the moto server path still whole."""

from __future__ import annotations

import io
import json

import jsonpath_ng.ext
import moto.sqs.models as sqs_models

from local.moto_server import quicker_moto
from local.pipeline import LocalPipeline
from local.runtime import _batches


def test_batches_respect_the_count_and_byte_limits_and_keep_every_body_once_in_order():
    # GIVEN bodies of 1, 3 and 6 bytes
    bodies = ["a", "bbb", "cccccc", "a", "a", "a", "a"]
    # WHEN they are cut into batches of at most 3 bodies and 6 bytes
    batches = list(_batches(bodies, 3, 6))
    # THEN no batch breaks a limit (a body at the limit alone is a batch of one)
    assert [[body for _, body in batch] for batch in batches] == [
        ["a", "bbb"],
        ["cccccc"],
        ["a", "a", "a"],
        ["a"],
    ]
    assert [index for batch in batches for index, _ in batch] == list(range(len(bodies)))


def test_quicker_moto_puts_every_replaced_function_back_on_exit():
    # GIVEN moto's functions before WHEN quicker_moto is entered and left
    before = (
        jsonpath_ng.ext.parse,
        sqs_models.SQSBackend.is_message_valid_based_on_retention_period,
        sqs_models.unix_time,
        sqs_models.unix_time_millis,
        sqs_models.camelcase_to_underscores,
        sqs_models.generate_receipt_handle,
    )
    with quicker_moto():
        assert sqs_models.unix_time is not before[2]
    # THEN each is the original again
    after = (
        jsonpath_ng.ext.parse,
        sqs_models.SQSBackend.is_message_valid_based_on_retention_period,
        sqs_models.unix_time,
        sqs_models.unix_time_millis,
        sqs_models.camelcase_to_underscores,
        sqs_models.generate_receipt_handle,
    )
    assert all(a is b for a, b in zip(before, after, strict=True))


def test_a_pipeline_on_a_moto_server_routes_and_accounts_every_event(tmp_path):
    # GIVEN the pipeline on a moto server (every call over HTTP) instead of in-process moto
    entries = [
        {
            "Source": "orders.service",
            "DetailType": "OrderUpdatedEvent",
            "Detail": json.dumps({"metadata": {"event_id": f"server-{i}"}, "n": i}),
        }
        for i in range(12)
    ]
    with LocalPipeline.start(tmp_path, handler_log=io.StringIO(), server=True) as pipeline:
        # WHEN events go through it
        published = pipeline.process(entries)
        ledger = pipeline.account(published)
        endpoint = pipeline.function.environment.get("AWS_ENDPOINT_URL", "")
    # THEN the function was pointed at the server and nothing is lost (follow-ups included)
    assert endpoint.startswith("http://127.0.0.1:")
    assert ledger.persisted == len(entries)
    assert ledger.lost == []
    assert sum(ledger.follow_ups.values()) == len(entries)  # each *UpdatedEvent has one
    assert sum(lines for _, lines in ledger.archive_objects) == 2 * len(entries)

"""The stack's outputs are the operator CLI's map of an environment (kahula.stack_outputs)."""

from __future__ import annotations

from cdk_app import stack_outputs as so


def test_every_operator_queue_of_dev_is_an_output_naming_a_queue(synth):
    # GIVEN dev, which has every door (stream, FIFO, aggregates) and both follow-up types
    template = synth.raw["dev"]
    outputs = template["Outputs"]
    expected = set(so.OPERATOR_QUEUES.values()) | {
        so.consumer_dlq_url(t) for t in ("ValidatableEvent", "IndexableEvent")
    }
    # THEN each operator queue is an output whose value is a queue of the stack
    assert expected <= set(outputs)
    for key in expected:
        logical_id = outputs[key]["Value"]["Ref"]
        assert template["Resources"][logical_id]["Type"] == "AWS::SQS::Queue", key


def test_the_operator_queues_are_distinct(synth):
    outputs = synth.raw["dev"]["Outputs"]
    refs = [outputs[key]["Value"]["Ref"] for key in so.OPERATOR_QUEUES.values()]
    assert len(set(refs)) == len(refs)


def test_the_bus_archive_is_an_output_where_the_bus_keeps_one(synth, env):
    outputs = synth.raw[env]["Outputs"]
    logical_id = outputs[so.EVENT_BUS_ARCHIVE_NAME]["Value"]["Ref"]
    assert synth.raw[env]["Resources"][logical_id]["Type"] == "AWS::Events::Archive"


def test_an_absent_door_has_no_output(synth):
    # GIVEN prod, which has neither the Kinesis nor the FIFO door
    outputs = synth.raw["prod"]["Outputs"]
    assert so.OPERATOR_QUEUES["stream-failed"] not in outputs
    assert so.OPERATOR_QUEUES["ingest-dlq"] not in outputs

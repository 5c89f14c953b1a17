"""local/pipes.py: the outbox pipe's filter and input template, as Pipes applies them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.pipes import PipeTemplateError, _matches, read_pipes, render, to_entry
from local.topology import Topology, UnsupportedTemplate

NEW = "$.dynamodb.NewImage"


def record(event_name: str = "INSERT", **image: Any) -> dict[str, Any]:
    new_image = {
        "aggregate_id": {"S": "order-42"},
        "sequence_number": {"N": "1"},
        "aggregate_type": {"S": "Order"},
        "event_type": {"S": "OrderPlaced"},
        "event_data": {"M": {"sku": {"S": "A-1"}, "qty": {"N": "2"}}},
        "metadata": {"M": {"user": {"S": "u-7"}}},
        "timestamp": {"N": "1795305599000"},
        "schema_version": {"N": "1"},
        "event_id": {"S": "cmd-1"},
        **image,
    }
    return {"eventName": event_name, "dynamodb": {"NewImage": new_image}}


def test_a_placeholder_inside_a_string_takes_the_text():
    assert json.loads(render(f'{{"id":"<{NEW}.event_id.S>"}}', record())) == {"id": "cmd-1"}


def test_a_placeholder_outside_a_string_takes_the_json_value():
    rendered = render(f'{{"data":<{NEW}.event_data.M>}}', record())
    assert json.loads(rendered) == {"data": {"sku": {"S": "A-1"}, "qty": {"N": "2"}}}


def test_text_around_a_placeholder_in_a_string_is_kept():
    assert json.loads(render(f'{{"k":"v<{NEW}.sequence_number.N>x"}}', record())) == {"k": "v1x"}


def test_a_path_missing_from_the_record_fails_loudly():
    # GIVEN a template naming an attribute the client does not write
    with pytest.raises(PipeTemplateError, match=r"no 'correlation_id' under \$.dynamodb.NewImage"):
        render(f'{{"c":"<{NEW}.correlation_id.S>"}}', record())


def test_a_type_mismatch_fails_loudly():
    # GIVEN the template reads the sequence number as a string attribute (it is a number: N)
    with pytest.raises(PipeTemplateError, match="no 'S'"):
        render(f'{{"n":"<{NEW}.sequence_number.S>"}}', record())


def test_an_object_inside_a_string_fails_loudly():
    with pytest.raises(PipeTemplateError, match="inside a JSON string but is a dict"):
        render(f'{{"data":"<{NEW}.event_data.M>"}}', record())


def test_text_that_would_need_escaping_fails_loudly():
    with pytest.raises(PipeTemplateError, match="would need JSON escaping"):
        render(f'{{"id":"<{NEW}.event_id.S>"}}', record(event_id={"S": 'a"b'}))


def test_a_rendered_input_that_is_not_an_object_fails():
    with pytest.raises(PipeTemplateError, match="not an object"):
        render(f"<{NEW}.event_data.M.qty.N>", record())


def test_the_constructs_template_renders_the_documented_detail():
    # GIVEN the input template the construct writes (as the docs show its output)
    from cdk_app.constructs.aggregate_event_store import outbox_input_template

    spec = _spec(input_template=outbox_input_template(None))
    entry = to_entry(spec, record())
    assert entry["DetailType"] == "OrderPlaced"
    assert json.loads(entry["Detail"]) == {
        "metadata": {
            "event_id": "cmd-1",
            "domain": "Order",
            "aggregate_id": "order-42",
            "aggregate_type": "Order",
            "event_type": "OrderPlaced",
            "sequence_number": "1",
            "schema_version": "1",
            "recorded_at_ms": "1795305599000",
        },
        "event_metadata": {"user": {"S": "u-7"}},
        "data": {"sku": {"S": "A-1"}, "qty": {"N": "2"}},
    }


def test_only_records_the_filter_names_pass():
    inserts = (json.dumps({"eventName": ["INSERT"]}),)
    assert _matches(inserts, record("INSERT"))
    assert not _matches(inserts, record("MODIFY"))
    assert not _matches(inserts, record("REMOVE"))


def test_a_pipe_this_emulation_does_not_simulate_is_refused(tmp_path: Path):
    # GIVEN a pipe with an enrichment step
    template = _template(Enrichment="arn:aws:lambda:us-east-1:123456789012:function:f")
    topology = Topology(template, stack_name="s", region="us-east-1", assembly_dir=tmp_path)
    with pytest.raises(UnsupportedTemplate, match="Enrichment not simulated locally"):
        read_pipes(topology)


def test_a_pipe_is_read_from_the_template(tmp_path: Path):
    topology = Topology(_template(), stack_name="s", region="us-east-1", assembly_dir=tmp_path)
    (spec,) = read_pipes(topology)
    assert (spec.table_name, spec.bus_name, spec.source) == ("aggregates", "bus", "x.store")
    assert spec.filters == ('{"eventName": ["INSERT"]}',)
    assert (spec.batch_size, spec.starting_position) == (10, "TRIM_HORIZON")
    assert spec.running


def test_a_stopped_pipe_is_read_as_not_running(tmp_path: Path):
    template = _template(DesiredState="STOPPED")
    topology = Topology(template, stack_name="s", region="us-east-1", assembly_dir=tmp_path)
    (spec,) = read_pipes(topology)
    assert not spec.running


def _template(**extra: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "aggregates"}},
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "bus"}},
            "Pipe": {
                "Type": "AWS::Pipes::Pipe",
                "Properties": {
                    "Source": {"Fn::GetAtt": ["Table", "StreamArn"]},
                    "Target": {"Fn::GetAtt": ["Bus", "Arn"]},
                    "SourceParameters": {
                        "DynamoDBStreamParameters": {
                            "BatchSize": 10,
                            "StartingPosition": "TRIM_HORIZON",
                        },
                        "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]},
                    },
                    "TargetParameters": {
                        "EventBridgeEventBusParameters": {
                            "Source": "x.store",
                            "DetailType": f"{NEW}.event_type.S",
                        },
                        "InputTemplate": f'{{"id":"<{NEW}.event_id.S>"}}',
                    },
                    **extra,
                },
            },
        }
    }


def _spec(input_template: str) -> Any:
    from local.pipes import PipeSpec

    return PipeSpec(
        logical_id="Pipe",
        table_name="aggregates",
        bus_name="bus",
        source="x.store",
        detail_type=f"{NEW}.event_type.S",
        input_template=input_template,
        filters=(),
        batch_size=10,
        starting_position="TRIM_HORIZON",
        retry_attempts=185,
        running=True,
        dead_letter_queue_url=None,
    )

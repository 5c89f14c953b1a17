"""The persister function, its exact permissions, and every path that keeps a failed event."""

from __future__ import annotations

from importlib.metadata import version

from cdk_app.config import ENVIRONMENTS

from .conftest import only

# The persister may do exactly this: nothing more.
ALLOWED_ACTIONS = {
    "dynamodb:PutItem",
    "events:PutEvents",
    "s3:PutObject",
    "sqs:SendMessage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def persister_function(synth, env):
    return next(
        v
        for v in synth.resources(env, "AWS::Lambda::Function").values()
        if v["Properties"].get("FunctionName") == f"kahula-event-persister-{env}"
    )


def role_statements(synth, env, role_logical_id):
    statements = []
    for policy in synth.resources(env, "AWS::IAM::Policy").values():
        roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
        if role_logical_id in roles:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def persister_statements(synth, env):
    role_id = persister_function(synth, env)["Properties"]["Role"]["Fn::GetAtt"][0]
    role = synth.raw[env]["Resources"][role_id]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "Policies" not in role["Properties"]
    return role_statements(synth, env, role_id)


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_function_runtime_architecture_and_sizing(synth, env):
    props = persister_function(synth, env)["Properties"]
    config = ENVIRONMENTS[env]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "persister.handler.lambda_handler"
    assert props["MemorySize"] == config.persister.memory_mb
    assert props["Timeout"] == config.persister.timeout_seconds
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_powertools_layer_is_the_official_one_at_the_pinned_version(synth, env):
    # The deployed layer and the tests' pip install must be the same Powertools release.
    (layer,) = persister_function(synth, env)["Properties"]["Layers"]
    assert layer == (
        "{{resolve:ssm:/aws/service/powertools/python/arm64/python3.14/"
        f"{version('aws-lambda-powertools')}}}}}"
    )


def test_function_environment_configures_powertools_and_the_contract(synth, env):
    variables = persister_function(synth, env)["Properties"]["Environment"]["Variables"]
    config = ENVIRONMENTS[env]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "event-persister"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Kahula/EventPersistence"
    assert variables["POWERTOOLS_LOG_LEVEL"] == config.persister.log_level
    assert (
        variables["POWERTOOLS_TRACE_DISABLED"] == str(not config.persister.detailed_tracing).lower()
    )
    assert variables["FOLLOW_UP_SOURCE"] == "kahula.event-persister"
    assert variables["EVENT_ID_PATH"] == config.persister.contract.event_id_path
    assert variables["HASH_EXCLUDED_PATHS"] == ",".join(
        config.persister.contract.hash_excluded_paths
    )
    assert variables["PAYLOAD_PREFIX"] == "oversize-payloads"
    for name in ("TABLE_NAME", "EVENT_BUS_NAME", "CONFLICTS_QUEUE_URL", "PAYLOAD_BUCKET"):
        assert variables[name], name


def test_log_group_retention_per_environment(synth, env):
    log_group_id = persister_function(synth, env)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = synth.raw[env]["Resources"][log_group_id]
    assert (
        log_group["Properties"]["RetentionInDays"] == ENVIRONMENTS[env].persister.log_retention_days
    )


def test_persister_role_allows_exactly_the_listed_actions(synth, env):
    actions = {a for s in persister_statements(synth, env) for a in as_list(s["Action"])}
    assert actions == ALLOWED_ACTIONS


def test_persister_role_has_no_wildcards_except_xray(synth, env):
    for statement in persister_statements(synth, env):
        assert statement["Effect"] == "Allow"
        assert not any("*" in a for a in as_list(statement["Action"]))
        if statement["Resource"] == "*":
            assert set(as_list(statement["Action"])) == {
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
            }


def test_put_item_is_on_the_events_table_only(synth, env):
    table_id = only(
        {
            k: v
            for k, v in synth.resources(env, "AWS::DynamoDB::Table").items()
            if k.startswith("EventTable")
        }
    ) and next(iter(synth.resources(env, "AWS::DynamoDB::Table")))
    (statement,) = [
        s for s in persister_statements(synth, env) if s["Action"] == "dynamodb:PutItem"
    ]
    assert statement["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}


def test_put_object_is_on_the_payload_prefix_only(synth, env):
    (statement,) = [s for s in persister_statements(synth, env) if s["Action"] == "s3:PutObject"]
    joined = statement["Resource"]["Fn::Join"][1]
    assert joined[-1] == "/oversize-payloads/*"


def test_send_message_is_on_the_conflicts_and_failure_queues_only(synth, env):
    queues = {
        s["Resource"]["Fn::GetAtt"][0]
        for s in persister_statements(synth, env)
        if s["Action"] == "sqs:SendMessage"
    }
    names = {synth.raw[env]["Resources"][q]["Properties"]["QueueName"] for q in queues}
    assert names == {f"kahula-persister-{env}-conflicts", f"kahula-persister-{env}-failed"}


def test_async_invoke_retries_then_goes_to_the_failure_queue(synth, env):
    config = ENVIRONMENTS[env]
    invoke_config = only(synth.resources(env, "AWS::Lambda::EventInvokeConfig"))["Properties"]
    assert invoke_config["MaximumRetryAttempts"] == config.persister.async_retry_attempts
    assert invoke_config["MaximumEventAgeInSeconds"] == config.persister.async_max_event_age_seconds
    failure_arn = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    queue = synth.raw[env]["Resources"][failure_arn["Fn::GetAtt"][0]]
    assert queue["Properties"]["QueueName"] == f"kahula-persister-{env}-failed"


def test_persist_rule_sends_every_event_with_retries_and_a_dead_letter_queue(synth, env):
    function_id = next(
        k
        for k, v in synth.resources(env, "AWS::Lambda::Function").items()
        if v["Properties"].get("FunctionName") == f"kahula-event-persister-{env}"
    )
    rules = [
        r["Properties"]
        for r in synth.resources(env, "AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    (rule,) = rules
    assert rule["EventPattern"] == {"source": [{"prefix": ""}]}
    (target,) = rule["Targets"]
    config = ENVIRONMENTS[env]
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": config.persister.rule_retry_attempts,
        "MaximumEventAgeInSeconds": config.persister.rule_max_event_age_seconds,
    }
    dlq_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    dlq = synth.raw[env]["Resources"][dlq_id]["Properties"]
    assert dlq["QueueName"] == f"kahula-persister-{env}-undeliverable"
    assert dlq["SqsManagedSseEnabled"] is True


def test_logs_are_json_and_platform_lines_follow_the_environment(synth, env):
    logging = persister_function(synth, env)["Properties"]["LoggingConfig"]
    config = ENVIRONMENTS[env]
    assert logging["LogFormat"] == "JSON"
    assert logging["SystemLogLevel"] == config.persister.platform_log_level
    assert logging["ApplicationLogLevel"] == {"WARNING": "WARN"}.get(
        config.persister.log_level, config.persister.log_level
    )

"""Narrow integrations the L2 library does not offer.

* ``FirehoseTarget``: an EventBridge rule target for a Firehose stream *with* a retry policy
  and a dead-letter queue (the L2 ``KinesisFirehoseStreamV2`` target exposes neither).
* ``SendOnlyQueueDestination``: a Lambda on-failure destination that grants the function
  ``sqs:SendMessage`` and nothing else (the L2 ``SqsDestination`` also grants
  ``GetQueueAttributes`` and ``GetQueueUrl``).
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs


def allow_rule_to_dead_letter(queue: sqs.IQueue, rule: events.IRule) -> None:
    """Let EventBridge put this rule's undeliverable events into ``queue``, and only this rule's."""
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=f"AllowDeadLettersFrom{rule.node.id}",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        )
    )


@jsii.implements(events.IRuleTarget)
class FirehoseTarget:
    def __init__(
        self,
        stream: firehose.IDeliveryStream,
        *,
        role: iam.IRole,
        dead_letter_queue: sqs.IQueue,
        retry_attempts: int,
        max_event_age: Duration,
    ) -> None:
        self._stream = stream
        self._role = role
        self._dlq = dead_letter_queue
        self._retry_attempts = retry_attempts
        self._max_event_age = max_event_age

    def bind(self, rule: events.IRule, _id: Any = None) -> events.RuleTargetConfig:
        allow_rule_to_dead_letter(self._dlq, rule)
        return events.RuleTargetConfig(
            arn=self._stream.delivery_stream_arn,
            role=self._role,
            target_resource=self._stream,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dlq.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=self._retry_attempts,
                maximum_event_age_in_seconds=int(self._max_event_age.to_seconds()),
            ),
        )


@jsii.implements(lambda_.IDestination)
class SendOnlyQueueDestination:
    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(
        self, _scope: Any, fn: lambda_.IFunction, *, type: Any = None
    ) -> lambda_.DestinationConfig:
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self._queue.queue_arn])
        )
        return lambda_.DestinationConfig(destination=self._queue.queue_arn)

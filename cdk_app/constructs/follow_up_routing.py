"""Routes the persister's follow-up events to one queue per follow-up type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .common import (
    RULE_MAX_EVENT_AGE_SECONDS,
    RULE_RETRY_ATTEMPTS,
    SQS_MAX_RECEIVE_COUNT,
    SQS_RETENTION_DAYS,
    SQS_VISIBILITY_SECONDS,
    Naming,
    check,
    knob,
    pin_feature_flags,
    range_problems,
)
from .event_bus import EventBus
from .persister import Persister
from .secure_queue import SecureQueue


def follow_up_pattern(source: str, detail_type: str) -> events.EventPattern:
    """Only the persister's own follow-ups of one type: source and detail-type both match."""
    return events.EventPattern(source=[source], detail_type=[detail_type])


@dataclass(frozen=True, kw_only=True)
class FollowUpRoutingProps:
    """Retention, consumer retries and delivery retries of the follow-up queues."""

    queue_retention_days: int = knob(
        14, "retention of the follow-up queues", within=SQS_RETENTION_DAYS
    )
    max_receive_count: int = knob(
        5, "consumer receives before a follow-up's DLQ", within=SQS_MAX_RECEIVE_COUNT
    )
    visibility_timeout_seconds: int = knob(
        300, "consumer visibility timeout", within=SQS_VISIBILITY_SECONDS
    )
    rule_retry_attempts: int = knob(
        185, "EventBridge target retries before its DLQ", within=RULE_RETRY_ATTEMPTS
    )
    rule_max_event_age_seconds: int = knob(
        24 * 3600, "EventBridge target maximum event age", within=RULE_MAX_EVENT_AGE_SECONDS
    )

    def __post_init__(self) -> None:
        problems = range_problems(self)
        check(problems, "FollowUpRoutingProps")


class FollowUpRouting(Construct):
    """One rule and one encrypted queue (with its DLQ) per follow-up detail type.

    ``queues[detail_type]`` is where validators and indexers consume; ``add_target`` sends the
    same follow-ups to any further rule target. Rule targets retry and dead-letter to
    ``self.dead_letter_queue``; a consumer failing a message ``max_receive_count`` times moves
    it to that queue's own DLQ. Pass the ``Persister`` (its follow-up source and types) or
    both ``follow_up_source`` and ``detail_types``. With ``encryption_key`` the queues are
    SSE-KMS; ``queue.grant_consume_messages(consumer)`` then grants the key's Decrypt too.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus | EventBus,
        persister: Persister | None = None,
        follow_up_source: str | None = None,
        detail_types: Sequence[str] | None = None,
        naming: Naming | None = None,
        props: FollowUpRoutingProps | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        if persister is not None:
            if follow_up_source is not None or detail_types is not None:
                raise ValueError(
                    "FollowUpRouting: pass either persister or follow_up_source and "
                    "detail_types, not both"
                )
            follow_up_source = persister.follow_up_source
            detail_types = persister.follow_up_detail_types
        if follow_up_source is None or detail_types is None:
            raise ValueError(
                "FollowUpRouting needs the persister, or follow_up_source and detail_types"
            )
        self.props = props = props or FollowUpRoutingProps()
        bus = event_bus.bus if isinstance(event_bus, EventBus) else event_bus
        queue_name_prefix = naming.of("follow-ups") if naming else None
        queue_retention = Duration.days(props.queue_retention_days)
        retry_attempts = props.rule_retry_attempts
        max_event_age = Duration.seconds(props.rule_max_event_age_seconds)
        self.dead_letter_queue = SecureQueue(
            self,
            "Undeliverable",
            queue_name=f"{queue_name_prefix}-undeliverable" if queue_name_prefix else None,
            retention=queue_retention,
            dead_letter_of="follow-ups EventBridge could not deliver to their queue",
            encryption_key=encryption_key,
        ).queue
        self.queues: dict[str, sqs.Queue] = {}
        self.consumer_dead_letter_queues: dict[str, sqs.Queue] = {}
        self.rules: dict[str, events.Rule] = {}
        for detail_type in detail_types:
            name = detail_type.removesuffix("Event").lower()
            secure = SecureQueue(
                self,
                f"{detail_type}Queue",
                queue_name=f"{queue_name_prefix}-{name}" if queue_name_prefix else None,
                retention=queue_retention,
                max_receive_count=props.max_receive_count,
                visibility_timeout=Duration.seconds(props.visibility_timeout_seconds),
                encryption_key=encryption_key,
            )
            assert secure.dead_letter_queue is not None
            self.queues[detail_type] = secure.queue
            self.consumer_dead_letter_queues[detail_type] = secure.dead_letter_queue
            rule = events.Rule(
                self,
                f"{detail_type}Rule",
                event_bus=bus,
                description=f"{detail_type} follow-ups from {follow_up_source}",
                event_pattern=follow_up_pattern(follow_up_source, detail_type),
            )
            self.rules[detail_type] = rule
            self.add_target(
                detail_type,
                targets.SqsQueue(
                    secure.queue,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=retry_attempts,
                    max_event_age=max_event_age,
                ),
            )

    def add_target(self, detail_type: str, target: events.IRuleTarget) -> None:
        """Send follow-ups of ``detail_type`` to one more target (a Step Function, a Lambda...)."""
        if detail_type not in self.rules:
            known = ", ".join(self.rules)
            raise ValueError(f"no follow-up type {detail_type!r}; known types: {known}")
        self.rules[detail_type].add_target(target)

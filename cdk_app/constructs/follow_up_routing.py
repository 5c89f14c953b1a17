"""Routes the persister's follow-up events to one queue per follow-up type."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .secure_queue import SecureQueue


def follow_up_pattern(source: str, detail_type: str) -> events.EventPattern:
    """Only the persister's own follow-ups of one type: source and detail-type both match."""
    return events.EventPattern(source=[source], detail_type=[detail_type])


class FollowUpRouting(Construct):
    """One rule and one encrypted queue (with its DLQ) per follow-up detail type.

    ``queues[detail_type]`` is where validators and indexers consume; ``add_target`` sends the
    same follow-ups to any further rule target. Rule targets retry and dead-letter to
    ``self.dead_letter_queue``; a consumer failing a message ``max_receive_count`` times moves
    it to that queue's own DLQ.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus,
        follow_up_source: str,
        detail_types: Sequence[str],
        queue_name_prefix: str,
        queue_retention: Duration,
        max_receive_count: int,
        retry_attempts: int,
        max_event_age: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self._retry_attempts = retry_attempts
        self._max_event_age = max_event_age
        self.dead_letter_queue = SecureQueue(
            self,
            "Undeliverable",
            queue_name=f"{queue_name_prefix}-undeliverable",
            retention=queue_retention,
            dead_letter_of="follow-ups EventBridge could not deliver to their queue",
        ).queue
        self.queues: dict[str, sqs.Queue] = {}
        self.consumer_dead_letter_queues: dict[str, sqs.Queue] = {}
        self.rules: dict[str, events.Rule] = {}
        for detail_type in detail_types:
            name = detail_type.removesuffix("Event").lower()
            secure = SecureQueue(
                self,
                f"{detail_type}Queue",
                queue_name=f"{queue_name_prefix}-{name}",
                retention=queue_retention,
                max_receive_count=max_receive_count,
                visibility_timeout=Duration.minutes(5),
            )
            assert secure.dead_letter_queue is not None
            self.queues[detail_type] = secure.queue
            self.consumer_dead_letter_queues[detail_type] = secure.dead_letter_queue
            rule = events.Rule(
                self,
                f"{detail_type}Rule",
                event_bus=event_bus,
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

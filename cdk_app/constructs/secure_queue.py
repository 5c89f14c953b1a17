"""An SQS queue with the project's secure defaults, optionally with its own dead-letter queue."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from kahula_core import spec

from .common import pin_feature_flags
from .nag import acknowledge, control, skip_scan


def _acknowledge_is_dead_letter_queue(queue: sqs.Queue, what: str) -> None:
    reason = (
        f"This queue is itself a dead-letter destination ({what}); "
        "a DLQ of a DLQ would only move the problem."
    )
    acknowledge(queue, "AwsSolutions-SQS3", reason)
    acknowledge(queue, "Serverless-SQSRedrivePolicy", reason)
    acknowledge(queue, control("CT.SQS.PR.1"), reason)


SQS_MANAGED_SSE = (
    "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled). A customer managed key adds KMS "
    "requests and a key policy for every producer service; it is one switch away "
    "(EncryptionProps.customer_managed_key, or encryption_key=) when policy demands it."
)


def _skip_cmk_check(queue: sqs.Queue) -> None:
    skip_scan(queue, "checkov", "CKV_AWS_27", SQS_MANAGED_SSE)


class SecureQueue(Construct):
    """SSE-SQS (or SSE-KMS with ``encryption_key``) encryption, TLS-only access, a fixed retention.

    Both queues take messages up to SQS's 1 MiB, set explicitly: the quarantine code measures
    against that limit (``spec.SQS_MAX_MESSAGE_BYTES``), and a queue's default size is not one a
    template should rely on.

    With ``max_receive_count`` the queue gets a dead-letter queue (``self.dead_letter_queue``)
    that receives messages consumers failed that many times. Without it the queue *is* a
    dead-letter queue of something else, and its cdk-nag acknowledgement says so.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue_name: str | None,
        retention: Duration,
        max_receive_count: int | None = None,
        visibility_timeout: Duration | None = None,
        dead_letter_of: str | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        if (max_receive_count is None) == (dead_letter_of is None):
            raise ValueError(
                "SecureQueue needs exactly one of max_receive_count (a working queue with its "
                "own DLQ) or dead_letter_of (this queue is a DLQ, and for what)"
            )
        # SSE-KMS keeps a data key for five minutes (the default, written out): one KMS
        # request per producer per five minutes, not one per message.
        encryption: dict[str, Any] = (
            {
                "encryption": sqs.QueueEncryption.KMS,
                "encryption_master_key": encryption_key,
                "data_key_reuse": Duration.minutes(5),
            }
            if encryption_key is not None
            else {"encryption": sqs.QueueEncryption.SQS_MANAGED}
        )
        self.dead_letter_queue: sqs.Queue | None = None
        dead_letter: sqs.DeadLetterQueue | None = None
        if max_receive_count is not None:
            self.dead_letter_queue = sqs.Queue(
                self,
                "DeadLetterQueue",
                queue_name=f"{queue_name}-dlq" if queue_name else None,
                **encryption,
                enforce_ssl=True,
                retention_period=Duration.days(14),
                max_message_size_bytes=spec.SQS_MAX_MESSAGE_BYTES,
            )
            _acknowledge_is_dead_letter_queue(
                self.dead_letter_queue, f"the DLQ of {queue_name or construct_id}"
            )
            dead_letter = sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receive_count
            )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=queue_name,
            **encryption,
            enforce_ssl=True,
            retention_period=retention,
            max_message_size_bytes=spec.SQS_MAX_MESSAGE_BYTES,
            visibility_timeout=visibility_timeout,
            dead_letter_queue=dead_letter,
        )
        if encryption_key is None:
            _skip_cmk_check(self.queue)
            if self.dead_letter_queue is not None:
                _skip_cmk_check(self.dead_letter_queue)
        if dead_letter_of is not None:
            _acknowledge_is_dead_letter_queue(self.queue, dead_letter_of)

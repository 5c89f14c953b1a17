"""The environment stack's CloudFormation outputs: the names the operator CLI reads.

``kahula`` (``kahula.cli``) finds every resource of a deployed environment through the outputs
of its stack ``{prefix}-{env}``; the stack (stacks/event_persistence_stack.py) writes them with
these names. The names are an interface: renaming one breaks every installed CLI. No CDK import
here, so the CLI can read this module without the CDK.
"""

from __future__ import annotations

from typing import Final

EVENT_BUS_NAME: Final = "EventBusName"
EVENT_BUS_ARN: Final = "EventBusArn"
EVENT_BUS_ARCHIVE_NAME: Final = "EventBusArchiveName"  # the bus's replay archive, when kept
EVENT_TABLE_NAME: Final = "EventTableName"
ARCHIVE_BUCKET_NAME: Final = "ArchiveBucketName"
STREAM_NAME: Final = "StreamName"  # the Kinesis door, where deployed
INGEST_QUEUE_URL: Final = "IngestQueueUrl"  # the SQS FIFO door, where deployed
LEDGER_TABLE_NAME: Final = "LedgerTableName"  # the FIFO door's tenant ledger
EVENT_API_URL: Final = "EventApiUrl"  # the HTTP API, where deployed
PERSISTER_FUNCTION_NAME: Final = "PersisterFunctionName"  # `redrive` invokes it with an event
ARCHIVE_STREAM_NAME: Final = "ArchiveStreamName"  # the archive's Firehose stream
REPLAY_ROLE_ARN: Final = "ReplayRoleArn"  # the role `kahula replay` assumes (EventReplay)
# The archive catalog (`kahula query`), where deployed: Athena workgroup, Glue database and
# table, and the managed policy a person's role needs to query.
ARCHIVE_WORK_GROUP_NAME: Final = "ArchiveWorkGroupName"
ARCHIVE_DATABASE_NAME: Final = "ArchiveDatabaseName"
ARCHIVE_TABLE_NAME: Final = "ArchiveTableName"
ARCHIVE_QUERY_POLICY_ARN: Final = "ArchiveQueryPolicyArn"


def follow_up_queue_url(detail_type: str) -> str:
    """The queue a follow-up type is routed to (``ValidatableEventQueueUrl``)."""
    return f"{detail_type}QueueUrl"


#: Every queue an operator inspects or redrives: ``kahula redrive NAME`` -> its output (URL).
#: The follow-up consumers' DLQs are ``<type>-dlq`` (``validatable-dlq``), from the routing.
OPERATOR_QUEUES: Final = {
    "failed": "FailureQueueUrl",  # the persister's on-failure destination
    "conflicts": "ConflictsQueueUrl",  # same unique_id, another payload (shown, never redriven)
    "persister-undeliverable": "PersisterUndeliverableQueueUrl",  # rule DLQ
    "archive-undeliverable": "ArchiveUndeliverableQueueUrl",  # rule DLQ
    "follow-ups-undeliverable": "FollowUpsUndeliverableQueueUrl",  # rule DLQ
    "ingest-dlq": "IngestDeadLetterQueueUrl",  # the FIFO door's DLQ
    "stream-malformed": "StreamMalformedQueueUrl",  # the Kinesis door's quarantine
    "stream-failed": "StreamFailedQueueUrl",  # the Kinesis door's on-failure queue
    "outbox-dlq": "OutboxDeadLetterQueueUrl",  # the aggregate store's outbox pipe
}


def consumer_dlq_name(detail_type: str) -> str:
    """``ValidatableEvent`` -> ``validatable-dlq``: the short name of its consumer DLQ."""
    return f"{detail_type.removesuffix('Event').lower()}-dlq"


def consumer_dlq_url(detail_type: str) -> str:
    """The output of a follow-up consumer DLQ's URL (``ValidatableEventDeadLetterQueueUrl``)."""
    return f"{detail_type}DeadLetterQueueUrl"

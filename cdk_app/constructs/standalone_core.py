"""StandaloneCore: what a front door stores with, on a bus and a table, without a persister.

A front door (``StreamIngest``, ``QueueIngest``) needs a :class:`PersistenceCore`: the table,
the bus, a conflicts queue, a claim-check bucket, the follow-up source and rules, the contract
and the metrics namespace. A ``Persister`` has one (``persister.core``), but a Persister also
deploys a function and a rule on *every* event of the bus. ``StandaloneCore`` creates only the
two resources a core owns (the conflicts queue, the claim-check bucket), so "only the Kinesis
door on my existing bus and table" deploys no rule and no persister function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from kahula_core import spec

from .common import (
    DEFAULT_PREFIX,
    SQS_RETENTION_DAYS,
    Naming,
    check,
    exclusive,
    knob,
    pin_feature_flags,
    range_problems,
)
from .core_function import PersistenceCore, resolve_table
from .event_bus import EventBus
from .event_table import EventTable
from .secure_bucket import secure_bucket
from .secure_queue import SecureQueue


@dataclass(frozen=True, kw_only=True)
class StandaloneCoreProps:
    """Tunables of StandaloneCore: the core's contract and its two resources."""

    queue_retention_days: int = knob(
        14, "retention of the conflicts queue", within=SQS_RETENTION_DAYS
    )
    follow_up_rules: tuple[spec.FollowUpRule, ...] = knob(
        spec.DEFAULT_FOLLOW_UP_RULES, "event-name suffix -> follow-up type it yields"
    )
    follow_up_source: str | None = knob(
        None, "source of follow-ups (None: `{prefix}.event-persister`)"
    )
    contract: spec.ContractPaths = knob(spec.ContractPaths(), "the data contract's paths")
    claim_check_noncurrent_days: int = knob(
        7,
        "days a replaced claim-check object version is kept (each redelivery writes one)",
        within=(1, 3650, "S3 lifecycle"),
    )
    retain: bool = knob(True, "RETAIN the claim-check bucket it creates (when it creates one)")

    def __post_init__(self) -> None:
        problems = range_problems(self)
        try:
            spec.check_follow_up_rules(self.follow_up_rules)
        except spec.SpecError as exc:
            problems.append(str(exc))
        check(problems, "StandaloneCoreProps")


def claim_check_bucket(
    scope: Construct,
    *,
    existing: s3.IBucket | None,
    bucket_props: Mapping[str, Any] | None,
    retain: bool,
    noncurrent_days: int,
    encryption_key: kms.IKey | None,
) -> s3.IBucket:
    """The claim-check bucket (``PayloadBucket`` in ``scope``), or ``existing``; a bucket it
    creates expires replaced claim-check versions after ``noncurrent_days``."""
    if existing is not None:
        bucket: s3.IBucket = existing
    else:
        bucket = secure_bucket(
            scope,
            "PayloadBucket",
            access_log_bucket_id="PayloadAccessLogBucket",
            access_log_prefix="payload-bucket/",
            retain=retain,
            bucket_props=bucket_props,
            encryption_key=encryption_key,
            no_object_lock_reason=(
                "Claim checks are copies of details whose record is the table (with PITR); "
                "lock the archive bucket instead and pass it as existing_payload_bucket."
            ),
        ).bucket
    if isinstance(bucket, s3.Bucket):
        # Every redelivery of an oversize event rewrites its (content-addressed) object,
        # and versioning keeps each replaced version: expire them.
        bucket.add_lifecycle_rule(
            id="expire-replaced-claim-checks",
            prefix=f"{spec.PAYLOADS_PREFIX}/",
            noncurrent_version_expiration=Duration.days(noncurrent_days),
        )
    return bucket


class StandaloneCore(Construct):
    """A persistence core for front doors, with no persister: a conflicts queue and a
    claim-check bucket, nothing on the bus.

    ``StandaloneCore(self, "Core", event_bus=bus, table=table).core`` is what
    ``StreamIngest(core=...)`` / ``QueueIngest(core=...)`` take. ``existing_payload_bucket``
    XOR ``payload_bucket_props``. Public: ``conflicts_queue``, ``payload_bucket``, ``core``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus | EventBus,
        table: dynamodb.ITable | EventTable,
        existing_payload_bucket: s3.IBucket | None = None,
        payload_bucket_props: Mapping[str, Any] | None = None,
        naming: Naming | None = None,
        props: StandaloneCoreProps | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        exclusive(
            "StandaloneCore",
            existing_payload_bucket=existing_payload_bucket,
            payload_bucket_props=payload_bucket_props,
        )
        self.props = props = props or StandaloneCoreProps()
        prefix = naming.prefix if naming else DEFAULT_PREFIX
        resolved, key_attributes = resolve_table(table)
        self.conflicts_queue = SecureQueue(
            self,
            "Conflicts",
            queue_name=f"{naming.of('core')}-conflicts" if naming else None,
            retention=Duration.days(props.queue_retention_days),
            dead_letter_of="events whose unique_id is stored with another event",
            encryption_key=encryption_key,
        ).queue
        self.payload_bucket = claim_check_bucket(
            self,
            existing=existing_payload_bucket,
            bucket_props=payload_bucket_props,
            retain=props.retain,
            noncurrent_days=props.claim_check_noncurrent_days,
            encryption_key=encryption_key,
        )
        self.core = PersistenceCore(
            table=resolved,
            key_attributes=key_attributes,
            event_bus=event_bus,
            conflicts_queue=self.conflicts_queue,
            payload_bucket=self.payload_bucket,
            follow_up_source=props.follow_up_source or spec.follow_up_source(prefix),
            follow_up_rules=props.follow_up_rules,
            contract=props.contract,
            metrics_namespace=spec.metrics_namespace(prefix),
        )

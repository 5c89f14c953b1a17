"""Replay from the S3 archive with each event's identity kept: the reserved source and its role."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct
from kahula_core import spec

from .common import DEFAULT_PREFIX, Naming, pin_feature_flags
from .event_archive import EVENTS_PREFIX, EventArchive
from .event_bus import EventBus
from .nag import acknowledge, nag_resource
from .persister import Persister


class EventReplay(Construct):
    """What ``kahula replay`` needs to put archived events back on the bus as themselves.

    A replayed event travels wrapped: source ``spec.replay_source(prefix)``, detail-type
    ``spec.REPLAY_DETAIL_TYPE``, the archived event as its detail; the persister stores the
    original inside (same unique_id and payload hash: a duplicate of what is stored). That is
    safe only if nobody else can publish under that source, so this construct:

    * creates ``self.role``, the replay role (trust: principals of this account allowed to
      assume it), which may only ``events:PutEvents`` on this bus with that source and
      detail-type, and read (list, get) the archive's ``events/`` prefix;
    * reserves the source on the bus for that role alone (an explicit Deny for everyone else,
      ``EventBus.reserve_source``);
    * tells the persister the source (``REPLAY_SOURCE``), so it unwraps replayed events;
    * keeps the wrappers out of the S3 archive and the bus's own archive (the originals are
      there already).

    Follow-up rules match the follow-up source and types only, so they never see a wrapper;
    consumers of the bus get no replayed events from this path (README, "Replay").
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: EventBus,
        archive: EventArchive,
        persister: Persister,
        naming: Naming | None = None,
        source: str | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        self.source = source or spec.replay_source(naming.prefix if naming else DEFAULT_PREFIX)
        bus = event_bus.bus
        bucket = archive.bucket
        self.role = iam.Role(
            self,
            "Role",
            role_name=naming.of("replay") if naming else None,
            assumed_by=iam.AccountRootPrincipal(),
            max_session_duration=Duration.hours(12),
            description=(
                f"kahula replay: read the archive's {EVENTS_PREFIX} and put events on the bus "
                f"only as {self.source}"
            ),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PublishOnlyReplayedEvents",
                actions=["events:PutEvents"],
                resources=[bus.event_bus_arn],
                conditions={
                    "StringEquals": {
                        "events:source": [self.source],
                        "events:detail-type": [spec.REPLAY_DETAIL_TYPE],
                    }
                },
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListArchivedEvents",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{EVENTS_PREFIX}*"]}},
            )
        )
        archived = bucket.arn_for_objects(f"{EVENTS_PREFIX}*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadArchivedEvents", actions=["s3:GetObject"], resources=[archived]
            )
        )
        if encryption_key is not None:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="DecryptArchivedEvents",
                    actions=["kms:Decrypt"],
                    resources=[encryption_key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": [f"s3.{Stack.of(self).region}.amazonaws.com"]
                        }
                    },
                )
            )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, archived)}]",
            "GetObject only, under the archive's events/ prefix: Firehose names the objects "
            "at delivery time (hour partitions, random suffix), so they cannot be listed.",
        )

        event_bus.reserve_source(self.source, self.role)
        event_bus.exclude_from_archive(self.source)
        archive.exclude_source(self.source)
        persister.function.add_environment(spec.Env.REPLAY_SOURCE, self.source)

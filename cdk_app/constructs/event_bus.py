"""The custom event bus, who may put events on it, and its replay archive."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

# EventBridge patterns need at least one field; an empty prefix on "source" matches every event.
EVERY_EVENT = events.EventPattern(source=events.Match.prefix(""))


class EventBus(Construct):
    """A custom EventBridge bus with an archive of every event, for replay.

    By default only principals of the bus's own account may put events. List producer accounts,
    or an AWS Organization, to let them put events too (``events:PutEvents`` on this bus only).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus_name: str,
        archive_retention: Duration,
        producer_account_ids: Sequence[str] = (),
        producer_organization_id: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name)
        for account in producer_account_ids:
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"ProducerAccount{account}",
                    principals=[iam.AccountPrincipal(account)],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                )
            )
        if producer_organization_id is not None:
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="ProducerOrganization",
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions={"StringEquals": {"aws:PrincipalOrgID": producer_organization_id}},
                )
            )
        self.archive = self.bus.archive(
            "Archive",
            archive_name=f"{bus_name}-replay"[:48],
            description=f"Every event on {bus_name}, for replay",
            event_pattern=EVERY_EVENT,
            retention=archive_retention,
        )

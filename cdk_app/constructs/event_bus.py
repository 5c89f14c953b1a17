"""The custom event bus, who may put events on it, and its replay archive."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
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
        # The policy lives on the bus, so it names the bus by formatted ARN, not by reference.
        own_arn = Stack.of(self).format_arn(
            service="events", resource="event-bus", resource_name=bus_name
        )
        statements = [
            iam.PolicyStatement(
                sid=f"ProducerAccount{account}",
                principals=[iam.AccountPrincipal(account)],
                actions=["events:PutEvents"],
                resources=[own_arn],
            )
            for account in producer_account_ids
        ]
        if producer_organization_id is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="ProducerOrganization",
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[own_arn],
                    conditions={"StringEquals": {"aws:PrincipalOrgID": producer_organization_id}},
                )
            )
        if statements:
            # One policy document on the bus itself (the L2's add_to_resource_policy writes a
            # separate AWS::Events::EventBusPolicy through a deprecated property).
            cfn_bus = self.bus.node.default_child
            assert isinstance(cfn_bus, events.CfnEventBus)
            cfn_bus.policy = iam.PolicyDocument(statements=statements).to_json()
        self.archive = self.bus.archive(
            "Archive",
            archive_name=f"{bus_name}-replay"[:48],
            description=f"Every event on {bus_name}, for replay",
            event_pattern=EVERY_EVENT,
            retention=archive_retention,
        )

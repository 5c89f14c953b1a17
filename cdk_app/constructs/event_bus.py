"""The custom event bus, who may put events on it, and its replay archive."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Names, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from .common import Naming, check, exclusive, knob, overrides, pin_feature_flags

# EventBridge patterns need at least one field; an empty prefix on "source" matches every event.
EVERY_EVENT = events.EventPattern(source=events.Match.prefix(""))


def every_event_except(sources: Sequence[str]) -> dict[str, Any]:
    """The raw pattern of every event whose ``source`` is none of ``sources`` (none: all)."""
    if not sources:
        return {"source": [{"prefix": ""}]}
    return {"source": [{"anything-but": sorted(set(sources))}]}


@dataclass(frozen=True, kw_only=True)
class EventBusProps:
    """Who may publish, and how long the bus keeps events for replay."""

    archive_retention_days: int | None = knob(
        90, "EventBridge replay archive retention (None: no archive)"
    )
    producer_account_ids: tuple[str, ...] = knob((), "other accounts allowed to put events")
    producer_organization_id: str | None = knob(None, "AWS Organization allowed to put events")
    archive_existing_bus: bool = knob(
        False, "also create the replay archive on an existing_bus (off: its owner decides)"
    )

    def __post_init__(self) -> None:
        problems: list[str] = []
        for account in self.producer_account_ids:
            if not re.fullmatch(r"\d{12}", account):
                problems.append(f"producer account {account!r} must be 12 digits")
        org = self.producer_organization_id
        if org is not None and not re.fullmatch(r"o-[a-z0-9]{10,32}", org):
            problems.append("producer_organization_id must look like o-xxxxxxxxxx")
        days = self.archive_retention_days
        if days is not None and not 1 <= days <= 36500:
            problems.append("archive_retention_days must be 1-36500 or None")
        check(problems, "EventBusProps")


def _check_source(source: str, what: str) -> None:
    """A source the policy and the doors' RESERVED_SOURCES can both hold: IAM's StringLike
    reads * and ? as wildcards, and the doors' list is comma-separated."""
    if not source or source != source.strip() or any(c in source for c in ",*?"):
        raise ValueError(
            f"a reserved {what} must be non-empty, without commas, wildcards or surrounding "
            f"spaces: {source!r}"
        )


class EventBus(Construct):
    """A custom EventBridge bus (or an existing one) with an archive of every event, for replay.

    By default only principals of the bus's own account may put events. List producer accounts,
    or an AWS Organization, to let them put events too (``events:PutEvents`` on this bus only).

    Sources whose events are transport, not events (replay wrappers), are kept out of the
    bus's archive with :meth:`exclude_from_archive`.

    Sources the platform publishes under (its follow-ups) are reserved with
    :meth:`reserve_source`: an explicit Deny keeps every other principal, of any account, from
    putting an event with that source, so no producer can impersonate the platform. Sources a
    front door stamps itself (the FIFO door's ``tenant.<id>``) are reserved by prefix with
    :meth:`reserve_source_prefix`.

    ``existing_bus`` XOR ``bus_props`` (keyword arguments of ``events.EventBus``). On an
    existing bus the policy statements are added as ``AWS::Events::EventBusPolicy`` resources
    (deliberately: the reserved-source Deny is the impersonation guard, so wrapping a bus you
    already have adds it there), and no replay archive is created unless
    ``EventBusProps.archive_existing_bus`` asks for one.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        existing_bus: events.IEventBus | None = None,
        bus_props: Mapping[str, Any] | None = None,
        naming: Naming | None = None,
        props: EventBusProps | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        exclusive("EventBus", existing_bus=existing_bus, bus_props=bus_props)
        self.props = props = props or EventBusProps()
        self._cfn_bus: events.CfnEventBus | None = None
        self._name: str | None = None
        if existing_bus is not None:
            self.bus = existing_bus
        else:
            # Always a literal name: the bus's own policy names its ARN, and a reference to a
            # generated name would make the bus depend on itself.
            name = naming.event_bus if naming else Names.unique_resource_name(self, max_length=64)
            given = overrides(bus_props)
            self._name = str(given.pop("event_bus_name", name))
            bus = events.EventBus(self, "Bus", event_bus_name=self._name, **given)
            cfn_bus = bus.node.default_child
            assert isinstance(cfn_bus, events.CfnEventBus)
            self._cfn_bus = cfn_bus
            self.bus = bus
        self._reserved: dict[str, list[iam.IRole]] = {}
        self._reserved_prefixes: dict[str, list[iam.IRole]] = {}
        self._policy_resources: list[events.CfnEventBusPolicy] = []
        self._render_policy()

        # A replay archive of all traffic is billed per GB: on a bus someone else owns, it is
        # the caller's explicit choice (archive_existing_bus), never a side effect.
        self.archive: events.Archive | None = None
        self._archive_excludes: list[str] = []
        if props.archive_retention_days is not None and (
            existing_bus is None or props.archive_existing_bus
        ):
            archive: dict[str, Any] = {
                "archive_name": f"{naming.event_bus}-replay"[:48] if naming else None,
                "description": f"Every event on {self._name or 'the bus'}, for replay",
                "event_pattern": EVERY_EVENT,
                "retention": Duration.days(props.archive_retention_days),
            }
            if isinstance(self.bus, events.EventBus):
                self.archive = self.bus.archive("Archive", **archive)
            else:
                self.archive = events.Archive(self, "Archive", source_event_bus=self.bus, **archive)
            # aws-cdk-lib's Archive writes KmsKeyIdentifier "" when given no key (aws/aws-cdk
            # #37847): not a valid key identifier. Absent means the AWS owned key.
            cfn_archive = self.archive.node.default_child
            assert isinstance(cfn_archive, events.CfnArchive)
            cfn_archive.add_property_deletion_override("KmsKeyIdentifier")

    def exclude_from_archive(self, source: str) -> None:
        """Keep events of ``source`` out of the bus's archive (when it has one)."""
        self._archive_excludes.append(source)
        if self.archive is not None:
            cfn = self.archive.node.default_child
            assert isinstance(cfn, events.CfnArchive)
            cfn.event_pattern = every_event_except(self._archive_excludes)

    @property
    def reserved_sources(self) -> Mapping[str, Sequence[iam.IRole]]:
        return dict(self._reserved)

    @property
    def reserved_source_prefixes(self) -> Mapping[str, Sequence[iam.IRole]]:
        return dict(self._reserved_prefixes)

    def reserve_source(self, source: str, *publishers: iam.IRole) -> None:
        """Only ``publishers`` may put events whose ``source`` is ``source`` on this bus."""
        if not publishers:
            raise ValueError(f"reserving source {source!r} needs at least one publisher role")
        _check_source(source, "source")
        self._reserved.setdefault(source, []).extend(publishers)
        self._render_policy()

    def reserve_source_prefix(self, prefix: str, *publishers: iam.IRole) -> None:
        """Only ``publishers`` (none: no principal at all) may put events whose ``source``
        starts with ``prefix``: for sources a front door stamps itself and never publishes on
        the bus (the FIFO door's ``tenant.<id>``), so no producer can claim them here."""
        _check_source(prefix, "source prefix")
        self._reserved_prefixes.setdefault(prefix, []).extend(publishers)
        self._render_policy()

    # The policy is rebuilt whenever a source is reserved, so statements added later apply to
    # the producer statements too.
    def _statements(self) -> list[iam.PolicyStatement]:
        own_arn = self._own_arn()
        reserved = sorted(self._reserved)
        prefixes = sorted(self._reserved_prefixes)
        not_reserved: dict[str, Any] = {}
        if reserved:
            not_reserved["StringNotEquals"] = {"events:source": reserved}
        if prefixes:
            not_reserved["StringNotLike"] = {"events:source": [f"{p}*" for p in prefixes]}
        statements = [
            iam.PolicyStatement(
                sid=f"ProducerAccount{account}",
                principals=[iam.AccountPrincipal(account)],
                actions=["events:PutEvents"],
                resources=[own_arn],
                conditions=not_reserved or None,
            )
            for account in self.props.producer_account_ids
        ]
        org = self.props.producer_organization_id
        if org is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="ProducerOrganization",
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[own_arn],
                    conditions={"StringEquals": {"aws:PrincipalOrgID": org}, **not_reserved},
                )
            )
        for index, source in enumerate(reserved):
            statements.append(
                iam.PolicyStatement(
                    sid=f"OnlyThePlatformPublishesAs{index}",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[own_arn],
                    conditions={
                        "StringEquals": {"events:source": source},
                        "ArnNotEquals": {
                            "aws:PrincipalArn": [r.role_arn for r in self._reserved[source]]
                        },
                    },
                )
            )
        for index, prefix in enumerate(prefixes):
            publishers = self._reserved_prefixes[prefix]
            conditions: dict[str, Any] = {"StringLike": {"events:source": f"{prefix}*"}}
            if publishers:
                conditions["ArnNotEquals"] = {"aws:PrincipalArn": [r.role_arn for r in publishers]}
            statements.append(
                iam.PolicyStatement(
                    sid=f"NoProducerPublishesUnderPrefix{index}",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[own_arn],
                    conditions=conditions,
                )
            )
        return statements

    def _own_arn(self) -> str:
        if self._cfn_bus is not None:
            # The policy lives on the bus, so it names the bus by formatted ARN, not by
            # reference (a reference to itself would be a circular dependency).
            return Stack.of(self).format_arn(
                service="events", resource="event-bus", resource_name=str(self._name)
            )
        return self.bus.event_bus_arn

    def _render_policy(self) -> None:
        statements = self._statements()
        if self._cfn_bus is not None:
            # One policy document on the bus itself (the L2's add_to_resource_policy writes a
            # separate AWS::Events::EventBusPolicy through a deprecated property).
            document = iam.PolicyDocument(statements=statements).to_json() if statements else None
            self._cfn_bus.policy = document
            return
        for resource in self._policy_resources:
            self.node.try_remove_child(resource.node.id)
        self._policy_resources = [
            events.CfnEventBusPolicy(
                self,
                f"Policy{statement.sid}",
                event_bus_name=self.bus.event_bus_name,
                statement_id=statement.sid or f"Statement{index}",
                statement=statement.to_statement_json(),
            )
            for index, statement in enumerate(statements)
        ]

"""The events table: one item per event, keyed by unique_id, never overwritten."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from .common import Naming, knob, overrides, pin_feature_flags
from .nag import skip_scan

SAGA_INDEX = "by-saga"
EVENT_NAME_INDEX = "by-event-name"
PARTITION_KEY = "unique_id"


@dataclass(frozen=True, kw_only=True)
class EventTableProps:
    """Retention and the optional secondary indexes of the events table."""

    retain: bool = knob(True, "RETAIN the table on stack deletion, with deletion protection")
    saga_index: bool = knob(False, "GSI `by-saga` (saga_id + timestamp), keys only")
    event_name_index: bool = knob(False, "GSI `by-event-name` (event_name + timestamp)")


class EventTable(Construct):
    """On-demand DynamoDB table with point-in-time recovery and encryption at rest.

    ``props.retain`` keeps the table when the stack is deleted and turns on deletion
    protection. Optional keys-only GSIs: ``saga_index`` (saga_id + timestamp) and
    ``event_name_index`` (event_name + timestamp). Each costs one more write unit per stored
    event that carries its key (see the README's cost section). ``table_props`` are keyword
    arguments of ``dynamodb.Table`` merged over the defaults (the key schema is the
    contract's and cannot be changed).

    ``key_attributes`` names every attribute a key or index of this table is built on, with its
    role (``HASH`` or ``RANGE``): the persister checks those against DynamoDB's key-size limits
    before it writes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        naming: Naming | None = None,
        table_props: Mapping[str, Any] | None = None,
        props: EventTableProps | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        self.props = props = props or EventTableProps()
        self.table = dynamodb.Table(
            self,
            "Table",
            **{
                "table_name": naming.table if naming else None,
                "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
                "point_in_time_recovery_specification": (
                    dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
                ),
                "encryption": dynamodb.TableEncryption.AWS_MANAGED,
                "deletion_protection": props.retain,
                "removal_policy": RemovalPolicy.RETAIN if props.retain else RemovalPolicy.DESTROY,
                **overrides(table_props, refused=("partition_key", "sort_key")),
            },
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
        )
        skip_scan(
            self.table,
            "checkov",
            "CKV_AWS_119",
            "Encrypted at rest with the AWS managed key (aws/dynamodb), with no key to administer "
            "or lose; a customer managed key is an escape hatch away when policy demands.",
        )
        keys = [(PARTITION_KEY, "HASH")]
        timestamp = dynamodb.Attribute(name="timestamp", type=dynamodb.AttributeType.STRING)
        for wanted, index_name, key in (
            (props.saga_index, SAGA_INDEX, "saga_id"),
            (props.event_name_index, EVENT_NAME_INDEX, "event_name"),
        ):
            if wanted:
                self.table.add_global_secondary_index(
                    index_name=index_name,
                    partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
                    sort_key=timestamp,
                    projection_type=dynamodb.ProjectionType.KEYS_ONLY,
                )
                keys += [(key, "HASH"), (timestamp.name, "RANGE")]
        self.key_attributes: tuple[tuple[str, str], ...] = tuple(dict.fromkeys(keys))

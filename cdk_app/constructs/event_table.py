"""The events table: one item per event, keyed by unique_id, never overwritten."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from .nag import skip_scan

SAGA_INDEX = "by-saga"
EVENT_NAME_INDEX = "by-event-name"


class EventTable(Construct):
    """On-demand DynamoDB table with point-in-time recovery and encryption at rest.

    ``retain`` keeps the table when the stack is deleted and turns on deletion protection.
    Optional keys-only GSIs: ``saga_index`` (saga_id + timestamp) and ``event_name_index``
    (event_name + timestamp). Each costs one more write unit per stored event that carries
    its key (see the README's cost section); both are off unless an environment enables them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        retain: bool,
        saga_index: bool = False,
        event_name_index: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name="unique_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=retain,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        skip_scan(
            self.table,
            "checkov",
            "CKV_AWS_119",
            "Encrypted at rest with the AWS managed key (aws/dynamodb), with no key to administer "
            "or lose; a customer managed key is an escape hatch away when policy demands.",
        )
        timestamp = dynamodb.Attribute(name="timestamp", type=dynamodb.AttributeType.STRING)
        for wanted, index_name, key in (
            (saga_index, SAGA_INDEX, "saga_id"),
            (event_name_index, EVENT_NAME_INDEX, "event_name"),
        ):
            if wanted:
                self.table.add_global_secondary_index(
                    index_name=index_name,
                    partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
                    sort_key=timestamp,
                    projection_type=dynamodb.ProjectionType.KEYS_ONLY,
                )

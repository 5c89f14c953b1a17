"""SQL over the S3 archive: a Glue table with partition projection and an Athena workgroup.

The table reads the archive exactly as ``EventArchive`` writes it: gzipped newline-delimited
JSON, one EventBridge event per line, under ``events/year=YYYY/month=MM/day=DD/hour=HH/``
(arrival hour, UTC). Partition projection computes the partitions from the query's predicates,
so there is no crawler to run and no ``MSCK REPAIR TABLE`` after each hour. The columns are
``kahula_core.spec.ARCHIVE_COLUMNS``, the ones ``kahula query --local`` gives DuckDB.

The workgroup enforces its own configuration (a client cannot send results elsewhere or turn
encryption off), writes results encrypted to a bucket whose lifecycle expires them, and
cancels any query that would scan more than ``bytes_scanned_cutoff_gib``.

Who may query: ``self.query_policy``, a managed policy with exactly what a query needs (attach
it with :meth:`ArchiveCatalog.grant_query`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from kahula_core import spec

from .common import Naming, check, exclusive, knob, pin_feature_flags, range_problems
from .event_archive import EVENTS_PREFIX, EventArchive
from .nag import NO_CUSTOMER_MANAGED_KEY, acknowledge, control, nag_resource
from .secure_bucket import secure_bucket

RESULTS_PREFIX = "results/"
ENGINE_VERSION = "Athena engine version 3"
# The OpenX JSON SerDe: it maps a JSON key to a column of another name (``detail-type`` is
# not a SQL identifier) and returns a nested object read into a ``string`` column as its JSON
# text, which is what ``detail`` needs (Athena guide, "OpenX JSON SerDe").
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
GIB = 1024**3
# Athena's smallest per-query data usage control is 10 MB (Athena guide, "Workgroup data
# usage controls"); 1 GiB is above it.
_CUTOFF_GIB = (1, 1024 * 1024, "1 GiB to 1 PiB")


@dataclass(frozen=True, kw_only=True)
class ArchiveCatalogProps:
    """The archive's table, and the workgroup that queries it."""

    first_year: int = knob(
        2025,
        "first year the table projects (through the current year)",
        within=(2000, 2100, "a year"),
    )
    bytes_scanned_cutoff_gib: int = knob(
        10,
        "Athena cancels a query scanning more than this (GiB; $5/TB: 10 GiB is $0.05)",
        within=_CUTOFF_GIB,
    )
    results_expire_after_days: int = knob(
        7,
        "query results (copies of archived events) expire after",
        within=(1, 365, "a year at most"),
    )
    publish_metrics: bool = knob(True, "per-query CloudWatch metrics (bytes scanned, time)")
    retain: bool = knob(True, "RETAIN the results bucket on stack deletion")

    def __post_init__(self) -> None:
        check(range_problems(self), "ArchiveCatalogProps")

    @property
    def bytes_scanned_cutoff(self) -> int:
        return self.bytes_scanned_cutoff_gib * GIB


def _glue_name(text: str) -> str:
    """Glue and Athena names: lowercase letters, digits and underscores (no quoting needed)."""
    return "".join(c if c.isalnum() else "_" for c in text.lower())


class ArchiveCatalog(Construct):
    """A Glue database + table over ``archive``'s events, and an Athena workgroup to query it.

    ``archive``: the ``EventArchive`` (or its bucket). ``existing_results_bucket`` XOR
    ``results_bucket_props`` (keyword arguments of ``s3.Bucket`` for the one it creates; the
    lifecycle that expires results applies only to a created bucket). ``encryption_key``: the
    key the archive bucket is encrypted with, used for the results too (else SSE-S3).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        archive: EventArchive | s3.IBucket,
        existing_results_bucket: s3.IBucket | None = None,
        results_bucket_props: Mapping[str, Any] | None = None,
        naming: Naming | None = None,
        props: ArchiveCatalogProps | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        exclusive(
            "ArchiveCatalog",
            existing_results_bucket=existing_results_bucket,
            results_bucket_props=results_bucket_props,
        )
        self.props = props = props or ArchiveCatalogProps()
        stack = Stack.of(self)
        self.archive_bucket = archive.bucket if isinstance(archive, EventArchive) else archive
        access_logs = archive.access_log_bucket if isinstance(archive, EventArchive) else None

        if existing_results_bucket is not None:
            self.results_bucket = existing_results_bucket
        else:
            self.results_bucket = secure_bucket(
                self,
                "ResultsBucket",
                retain=props.retain,
                access_log_bucket=access_logs,
                access_log_bucket_id="ResultsAccessLogBucket",
                access_log_prefix="query-results-bucket/",
                bucket_props=results_bucket_props,
                encryption_key=encryption_key,
                no_object_lock_reason=(
                    "Query results are disposable copies of archived events that expire in "
                    "days; the archive bucket holds the record."
                ),
                lifecycle_rules=[
                    s3.LifecycleRule(
                        id="expire-query-results",
                        expiration=Duration.days(props.results_expire_after_days),
                        noncurrent_version_expiration=Duration.days(1),
                        abort_incomplete_multipart_upload_after=Duration.days(1),
                    )
                ],
            ).bucket

        # Names: Glue and Athena want [a-z0-9_] to be written without quotes.
        unique = Names.unique_resource_name(self, max_length=60, separator="_")
        self.database_name = (
            _glue_name(f"{naming.prefix}_archive_{naming.env}") if naming else _glue_name(unique)
        )
        self.table_name = spec.ARCHIVE_TABLE
        self.work_group_name = (
            naming.of("archive")
            if naming
            else Names.unique_resource_name(self, max_length=128, separator="-")
        )

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="The event archive (kahula query): one table, events",
            ),
        )
        events_location = f"s3://{self.archive_bucket.bucket_name}/{EVENTS_PREFIX}"
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=stack.account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=self.table_name,
                description="Every event on the bus, one row per archived line (arrival hour)",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "EXTERNAL": "TRUE",
                    "classification": "json",
                    "compressionType": "gzip",
                    **self.projection(events_location),
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=p, type="string", comment="arrival, UTC")
                    for p in spec.ARCHIVE_PARTITIONS
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=events_location,
                    input_format=TEXT_INPUT_FORMAT,
                    output_format=TEXT_OUTPUT_FORMAT,
                    compressed=True,
                    columns=[
                        glue.CfnTable.ColumnProperty(name=c.name, type=c.hive_type, comment=c.doc)
                        for c in spec.ARCHIVE_COLUMNS
                    ],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=JSON_SERDE,
                        parameters={
                            # A line that is not JSON fails the query (never a silent null row).
                            "ignore.malformed.json": "FALSE",
                            "case.insensitive": "TRUE",
                            **{
                                f"mapping.{c.name}": c.key
                                for c in spec.ARCHIVE_COLUMNS
                                if c.name != c.key
                            },
                        },
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(self.database)

        encryption = (
            athena.CfnWorkGroup.EncryptionConfigurationProperty(
                encryption_option="SSE_KMS", kms_key=encryption_key.key_arn
            )
            if encryption_key is not None
            else athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_S3")
        )
        self.work_group = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.work_group_name,
            description="kahula query: SQL over the event archive",
            state="ENABLED",
            # Deleting the stack deletes the workgroup's saved queries too (not its results).
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                bytes_scanned_cutoff_per_query=props.bytes_scanned_cutoff,
                publish_cloud_watch_metrics_enabled=props.publish_metrics,
                requester_pays_enabled=False,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=ENGINE_VERSION
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/{RESULTS_PREFIX}",
                    encryption_configuration=encryption,
                    expected_bucket_owner=stack.account,
                ),
            ),
        )
        self.work_group.apply_removal_policy(RemovalPolicy.DESTROY)
        if encryption_key is None:
            acknowledge(self.work_group, control("CT.ATHENA.PR.2"), NO_CUSTOMER_MANAGED_KEY)

        self.query_policy = iam.ManagedPolicy(
            self,
            "QueryPolicy",
            description="Query the event archive through its Athena workgroup (kahula query)",
            statements=self._query_statements(stack, encryption_key),
        )
        for bucket, prefix in (
            (self.archive_bucket, EVENTS_PREFIX),
            (self.results_bucket, RESULTS_PREFIX),
        ):
            objects = nag_resource(self, bucket.arn_for_objects(f"{prefix}*"))
            acknowledge(
                self.query_policy,
                f"AwsSolutions-IAM5[Resource::{objects}]",
                "Athena reads every archived object of the hours a query selects and names "
                "result objects by query id; the grant is scoped to that one prefix.",
            )

    def projection(self, events_location: str) -> dict[str, str]:
        """Partition projection over year=/month=/day=/hour= (Athena guide, "Partition
        projection"). The year is a date projection ending at NOW, so a new year needs no
        change; month/day/hour are zero-padded integers. A query that names no hour range
        lists every hour since ``first_year``: filter on the partitions."""
        year, month, day, hour = spec.ARCHIVE_PARTITIONS
        return {
            "projection.enabled": "true",
            f"projection.{year}.type": "date",
            f"projection.{year}.format": "yyyy",
            f"projection.{year}.range": f"{self.props.first_year},NOW",
            f"projection.{year}.interval": "1",
            f"projection.{year}.interval.unit": "YEARS",
            **{
                key: value
                for name, high in ((month, 12), (day, 31), (hour, 23))
                for key, value in (
                    (f"projection.{name}.type", "integer"),
                    (f"projection.{name}.range", f"{0 if name == hour else 1},{high}"),
                    (f"projection.{name}.digits", "2"),
                )
            },
            "storage.location.template": events_location
            + "/".join(f"{p}=${{{p}}}" for p in spec.ARCHIVE_PARTITIONS)
            + "/",
        }

    def _query_statements(
        self, stack: Stack, encryption_key: kms.IKey | None
    ) -> list[iam.PolicyStatement]:
        work_group_arn = stack.format_arn(
            service="athena", resource="workgroup", resource_name=self.work_group_name
        )
        catalog_arn = stack.format_arn(service="glue", resource="catalog")
        database_arn = stack.format_arn(
            service="glue", resource="database", resource_name=self.database_name
        )
        table_arn = stack.format_arn(
            service="glue",
            resource="table",
            resource_name=f"{self.database_name}/{self.table_name}",
        )
        statements = [
            iam.PolicyStatement(
                sid="RunQueriesInTheArchiveWorkGroup",
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                    "athena:GetWorkGroup",
                ],
                resources=[work_group_arn],
            ),
            iam.PolicyStatement(
                sid="ReadTheArchiveTable",
                actions=["glue:GetDatabase", "glue:GetTable"],
                resources=[catalog_arn, database_arn, table_arn],
            ),
            iam.PolicyStatement(
                sid="ListTheArchivedEvents",
                actions=["s3:ListBucket"],
                resources=[self.archive_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{EVENTS_PREFIX}*"]}},
            ),
            iam.PolicyStatement(
                sid="ReadTheArchivedEvents",
                actions=["s3:GetObject"],
                resources=[self.archive_bucket.arn_for_objects(f"{EVENTS_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="FindTheBuckets",
                actions=["s3:GetBucketLocation"],
                resources=[self.archive_bucket.bucket_arn, self.results_bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="ListTheResults",
                actions=["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[self.results_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{RESULTS_PREFIX}*"]}},
            ),
            iam.PolicyStatement(
                sid="WriteAndReadTheResults",
                actions=[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                resources=[self.results_bucket.arn_for_objects(f"{RESULTS_PREFIX}*")],
            ),
        ]
        if encryption_key is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="DecryptArchiveEncryptResults",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[encryption_key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}
                    },
                )
            )
        return statements

    def grant_query(self, principal: iam.IRole | iam.IUser | iam.IGroup) -> None:
        """Let ``principal`` run queries in the workgroup (attaches ``self.query_policy``)."""
        # jsii interfaces are not runtime-checkable: tell them apart by their ARN attribute.
        if hasattr(principal, "role_arn"):
            self.query_policy.attach_to_role(principal)  # type: ignore[arg-type]
        elif hasattr(principal, "user_arn"):
            self.query_policy.attach_to_user(principal)  # type: ignore[arg-type]
        else:
            self.query_policy.attach_to_group(principal)  # type: ignore[arg-type]

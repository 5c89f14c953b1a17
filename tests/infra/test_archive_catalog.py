"""The archive catalog: a projected Glue table that reads the archive's lines as they are, and
an Athena workgroup whose results are encrypted, expire, and cost at most the cutoff."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from kahula_core import spec

from cdk_app.config import ENVIRONMENTS
from cdk_app.constructs import (
    ArchiveCatalog,
    ArchiveCatalogProps,
    EncryptionKey,
    EncryptionProps,
    EventArchive,
    EventBus,
    Naming,
)
from stacks import EventPersistenceStack

from .conftest import only


def table_input(synth, env):
    return only(synth.resources(env, "AWS::Glue::Table"))["Properties"]["TableInput"]


def work_group(synth, env):
    return only(synth.resources(env, "AWS::Athena::WorkGroup"))["Properties"]


def archive_bucket_id(synth, env):
    stream = only(synth.resources(env, "AWS::KinesisFirehose::DeliveryStream"))
    return stream["Properties"]["ExtendedS3DestinationConfiguration"]["BucketARN"]["Fn::GetAtt"][0]


def query_statements(synth, env):
    policy = only(synth.resources(env, "AWS::IAM::ManagedPolicy"))
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_partitions_are_projected_over_the_archive_hour_prefix(synth, env):
    # GIVEN the synthesized table WHEN its parameters are read
    table = table_input(synth, env)
    params = table["Parameters"]
    bucket = archive_bucket_id(synth, env)
    # THEN Athena computes year/month/day/hour from the query (no crawler, no MSCK) ...
    assert params["projection.enabled"] == "true"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month", "day", "hour"]
    assert {k["Type"] for k in table["PartitionKeys"]} == {"string"}
    assert params["projection.year.type"] == "date"
    assert params["projection.year.format"] == "yyyy"
    assert params["projection.year.range"] == f"{ArchiveCatalogProps().first_year},NOW"
    assert params["projection.year.interval.unit"] == "YEARS"
    for name, low, high in (("month", 1, 12), ("day", 1, 31), ("hour", 0, 23)):
        assert params[f"projection.{name}.type"] == "integer"
        assert params[f"projection.{name}.range"] == f"{low},{high}"
        assert params[f"projection.{name}.digits"] == "2"  # Firehose writes MM, dd, HH
    # ... at exactly the prefix the archive's Firehose stream writes.
    template = params["storage.location.template"]["Fn::Join"][1]
    assert template == [
        "s3://",
        {"Ref": bucket},
        "/events/year=${year}/month=${month}/day=${day}/hour=${hour}/",
    ]
    assert table["StorageDescriptor"]["Location"]["Fn::Join"][1] == [
        "s3://",
        {"Ref": bucket},
        "/events/",
    ]


def test_json_serde_reads_one_eventbridge_event_per_line(synth, env):
    descriptor = table_input(synth, env)["StorageDescriptor"]
    serde = descriptor["SerdeInfo"]
    # GIVEN gzipped text lines THEN the text input format and the OpenX JSON SerDe ...
    assert descriptor["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert serde["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    # ... map the envelope's keys to the columns (detail-type is not a SQL name) ...
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
        ("version", "string"),
        ("id", "string"),
        ("detail_type", "string"),
        ("source", "string"),
        ("account", "string"),
        ("time", "string"),
        ("region", "string"),
        ("resources", "array<string>"),
        ("detail", "string"),  # JSON text: every event type has its own detail shape
    ]
    assert serde["Parameters"]["mapping.detail_type"] == "detail-type"
    # ... and a line that is not JSON fails the query instead of becoming a row of nulls.
    assert serde["Parameters"]["ignore.malformed.json"] == "FALSE"


def test_the_columns_are_the_spec_the_local_engine_reads(synth):
    # The same columns, in the same order, as kahula query --local gives DuckDB.
    columns = table_input(synth, "dev")["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == [c.name for c in spec.ARCHIVE_COLUMNS]
    assert table_input(synth, "dev")["Name"] == spec.ARCHIVE_TABLE


def test_workgroup_enforces_encrypted_results_and_a_scan_cutoff(synth, env):
    # GIVEN the workgroup WHEN its configuration is read
    config = work_group(synth, env)["WorkGroupConfiguration"]
    cutoff_gib = ENVIRONMENTS[env].catalog.bytes_scanned_cutoff_gib
    # THEN clients cannot override it (so cannot turn encryption off or write elsewhere) ...
    assert config["EnforceWorkGroupConfiguration"] is True
    # ... each query is cancelled past the cutoff ...
    assert config["BytesScannedCutoffPerQuery"] == cutoff_gib * 1024**3
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert config["PublishCloudWatchMetricsEnabled"] is True
    # ... and results are encrypted, in the results bucket under results/.
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    (bucket_id,) = [
        k for k in synth.resources(env, "AWS::S3::Bucket") if k.startswith("ArchiveCatalogResults")
    ]
    assert results["OutputLocation"]["Fn::Join"][1] == ["s3://", {"Ref": bucket_id}, "/results/"]
    assert results["ExpectedBucketOwner"] == {"Ref": "AWS::AccountId"}


def test_results_bucket_expires_results_and_is_secure(synth, env):
    (bucket,) = [
        v
        for k, v in synth.resources(env, "AWS::S3::Bucket").items()
        if k.startswith("ArchiveCatalogResults")
    ]
    props = bucket["Properties"]
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == ENVIRONMENTS[env].catalog.results_expire_after_days
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    # Its access logs go to the archive's access-log bucket (no third bucket).
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "query-results-bucket/"
    assert len(synth.resources(env, "AWS::S3::Bucket")) == 3


def test_query_policy_grants_exactly_what_a_query_needs(synth, env):
    statements = query_statements(synth, env)
    archive = archive_bucket_id(synth, env)
    # GIVEN the managed policy WHEN its statements are read THEN it may only ...
    assert {a for s in statements.values() for a in as_list(s["Action"])} == {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
        "athena:GetWorkGroup",
        "glue:GetDatabase",
        "glue:GetTable",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetBucketLocation",
        "s3:ListBucketMultipartUploads",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
    assert all(s["Effect"] == "Allow" for s in statements.values())
    # ... run queries in this one workgroup ...
    athena = statements["RunQueriesInTheArchiveWorkGroup"]
    assert athena["Resource"]["Fn::Join"][1][-1].endswith(f":workgroup/kahula-archive-{env}")
    # ... read this database and table only ...
    glue = [r["Fn::Join"][1][-1] for r in statements["ReadTheArchiveTable"]["Resource"]]
    assert glue == [
        ":catalog",
        f":database/kahula_archive_{env}",
        f":table/kahula_archive_{env}/events",
    ]
    # ... read the archive's events/ prefix, never the claim checks beside it ...
    read = statements["ReadTheArchivedEvents"]
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"]["Fn::Join"][1] == [{"Fn::GetAtt": [archive, "Arn"]}, "/events/*"]
    listing = statements["ListTheArchivedEvents"]
    assert listing["Resource"] == {"Fn::GetAtt": [archive, "Arn"]}
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["events/*"]}}
    # ... and write only under results/.
    write = statements["WriteAndReadTheResults"]
    assert write["Resource"]["Fn::Join"][1][-1] == "/results/*"
    assert statements["ListTheResults"]["Condition"] == {"StringLike": {"s3:prefix": ["results/*"]}}


def test_outputs_name_the_workgroup_database_and_table(synth, env):
    outputs = synth.raw[env]["Outputs"]
    assert outputs["ArchiveWorkGroupName"]["Value"] == f"kahula-archive-{env}"
    assert outputs["ArchiveDatabaseName"]["Value"] == f"kahula_archive_{env}"
    assert outputs["ArchiveTableName"]["Value"] == "events"
    policy_id = next(iter(synth.resources(env, "AWS::IAM::ManagedPolicy")))
    assert outputs["ArchiveQueryPolicyArn"]["Value"] == {"Ref": policy_id}


# ------------------------------------------------------------------ the construct alone


def bare_stack():
    stack = Stack(App(), "S", env={"account": "111111111111", "region": "eu-west-1"})
    archive = EventArchive(stack, "Archive", event_bus=EventBus(stack, "Bus"))
    return stack, archive


def test_a_customer_managed_key_encrypts_results_and_is_granted_through_s3_only():
    # GIVEN the pipeline key
    stack, _ = bare_stack()
    key = EncryptionKey(stack, "Key", props=EncryptionProps(customer_managed_key=True)).key
    archive = EventArchive(stack, "Keyed", event_bus=EventBus(stack, "Bus2"), encryption_key=key)
    # WHEN the catalog is built with it
    ArchiveCatalog(stack, "Catalog", archive=archive, encryption_key=key)
    template = Template.from_stack(stack).to_json()
    # THEN results are SSE-KMS with that key ...
    (wg,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Athena::WorkGroup"]
    encryption = wg["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"][
        "EncryptionConfiguration"
    ]
    key_id = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::KMS::Key")
    assert encryption == {"EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": [key_id, "Arn"]}}
    # ... and the query policy may use the key only through S3.
    (policy,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"
    ]
    (kms,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Sid"] == "DecryptArchiveEncryptResults"
    ]
    assert kms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def test_without_naming_the_names_are_generated_and_sql_safe():
    stack, archive = bare_stack()
    catalog = ArchiveCatalog(stack, "Catalog", archive=archive)
    resolved = stack.resolve(catalog.database_name)
    assert isinstance(resolved, str)
    assert resolved.replace("_", "").isalnum()
    assert resolved == resolved.lower()
    assert catalog.table_name == "events"


def test_naming_names_the_database_with_underscores():
    stack, archive = bare_stack()
    catalog = ArchiveCatalog(stack, "Catalog", archive=archive, naming=Naming("acme-co", "qa"))
    assert catalog.database_name == "acme_co_archive_qa"
    assert catalog.work_group_name == "acme-co-archive-qa"


def test_existing_results_bucket_and_results_bucket_props_are_exclusive():
    stack, archive = bare_stack()
    bucket = s3.Bucket.from_bucket_name(stack, "Results", "my-results")
    with pytest.raises(ValueError, match="existing_results_bucket or results_bucket_props"):
        ArchiveCatalog(
            stack,
            "Catalog",
            archive=archive,
            existing_results_bucket=bucket,
            results_bucket_props={"bucket_name": "x"},
        )


def test_an_existing_results_bucket_is_used_as_it_is():
    stack, archive = bare_stack()
    bucket = s3.Bucket.from_bucket_name(stack, "Results", "my-results")
    ArchiveCatalog(stack, "Catalog", archive=archive.bucket, existing_results_bucket=bucket)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::S3::Bucket", 2)  # the archive and its access logs only
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": {
                "ResultConfiguration": {"OutputLocation": "s3://my-results/results/"}
            }
        },
    )


def test_grant_query_attaches_the_policy_to_a_role():
    stack, archive = bare_stack()
    catalog = ArchiveCatalog(stack, "Catalog", archive=archive)
    role = iam.Role(stack, "Analyst", assumed_by=iam.AccountRootPrincipal())
    catalog.grant_query(role)
    role_id = stack.resolve(role.role_name)["Ref"]
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::ManagedPolicy", {"Roles": [{"Ref": role_id}]}
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bytes_scanned_cutoff_gib", 0),
        ("results_expire_after_days", 0),
        ("results_expire_after_days", 366),
        ("first_year", 1999),
    ],
)
def test_props_refuse_values_out_of_range(field, value):
    with pytest.raises(ValueError, match=f"ArchiveCatalogProps: {field} must be"):
        ArchiveCatalogProps(**{field: value})


def test_the_catalog_is_deployed_everywhere_and_can_be_turned_off():
    assert all(c.catalog is not None for c in ENVIRONMENTS.values())
    # GIVEN prod's config with the catalog off WHEN it is synthesized
    app = App()
    stack = EventPersistenceStack(
        app, "off", config=dataclasses.replace(ENVIRONMENTS["prod"], catalog=None), prefix="k"
    )
    # THEN there is no table, workgroup, query policy or output for it
    template = Template.from_stack(stack).to_json()
    types = {r["Type"] for r in template["Resources"].values()}
    assert not types & {"AWS::Glue::Table", "AWS::Athena::WorkGroup", "AWS::IAM::ManagedPolicy"}
    assert "ArchiveWorkGroupName" not in template["Outputs"]

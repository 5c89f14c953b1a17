"""Typed, frozen configuration: every knob of every environment, in one place.

The README's "Configuration reference" documents each field below; a test keeps the two in
step. Per-environment differences are data here, chosen with Python at synth time: no
CloudFormation conditions, no environment-variable reads inside constructs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_PREFIX = "kahula"

# The two follow-up detail types the persister emits, and the event-name suffix that yields
# each. The runtime owns the rule (lambdas/persister/follow_ups.py); a test checks that both
# sides agree and that no follow-up can match a rule that produces one.
FOLLOW_UP_DETAIL_TYPES = ("ValidatableEvent", "IndexableEvent")

# The retention periods CloudWatch Logs offers, in days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
    1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


class ConfigError(ValueError):
    """A configuration value is invalid or an environment name is unknown."""


def knob(default: Any, doc: str) -> Any:
    """A config field with its one-line documentation (rendered into the README)."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, kw_only=True)
class DataContract:
    """Where the persister finds each field in an event (dotted paths from the event root).

    The runtime has the same defaults (lambdas/persister/contract.py); the construct always
    passes these values explicitly, so the deployed function never relies on them.
    """

    event_id_path: str = knob(
        "detail.metadata.event_id", "producer event id; unique_id when present"
    )
    domain_path: str = knob(
        "detail.metadata.domain", "domain; else the first dot-segment of source"
    )
    saga_id_path: str = knob("detail.metadata.saga_id", "saga id (omitted when absent)")
    mbocdp_id_path: str = knob("detail.metadata.mbocdp_id", "mbocdp id (omitted when absent)")
    hash_excluded_paths: tuple[str, ...] = knob(
        ("detail.metadata.saga_id", "detail.metadata.timestamp", "detail.metadata.occurred_at"),
        "detail fields left out of payload_hash",
    )
    max_inline_item_bytes: int = knob(
        350_000, "estimated item size above which the detail goes to S3 (limit: 400 KB)"
    )


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """One deployment environment. Defaults are the production-grade choice."""

    name: str = knob("", "environment name: stack `{prefix}-{name}`, resource suffix")
    account: str | None = knob(None, "AWS account; else CDK_DEFAULT_ACCOUNT")
    region: str | None = knob(None, "AWS region; else CDK_DEFAULT_REGION")
    named_account_required: bool = knob(
        True, "with credentials, synth needs cdk.json `accounts` to name its account + region"
    )

    # Event bus
    producer_account_ids: tuple[str, ...] = knob((), "accounts allowed to put events")
    producer_organization_id: str | None = knob(None, "AWS Organization allowed to put events")
    replay_archive_retention_days: int = knob(90, "EventBridge replay archive retention")

    # Events table and archive bucket
    saga_index: bool = knob(False, "GSI `by-saga` (saga_id + timestamp), keys only")
    event_name_index: bool = knob(False, "GSI `by-event-name` (event_name + timestamp)")
    retain_data: bool = knob(True, "RETAIN table and buckets, deletion + termination protection")

    # Persister function
    persister_memory_mb: int = knob(256, "Lambda memory (arm64)")
    persister_timeout_seconds: int = knob(30, "Lambda timeout")
    persister_reserved_concurrency: int | None = knob(
        None, "reserved concurrency (None: unreserved)"
    )
    log_retention_days: int = knob(90, "persister and Firehose log retention")
    log_level: str = knob("INFO", "Powertools log level")
    platform_log_level: str = knob(
        "WARN", "Lambda system log level (WARN drops START/END/REPORT lines: cost)"
    )
    detailed_tracing: bool = knob(
        False, "X-Ray subsegments per AWS call (adds the X-Ray SDK to cold start)"
    )
    powertools_version: str = knob("3.37.0", "official Powertools layer version (= pip pin)")
    async_retry_attempts: int = knob(2, "Lambda async retries before the failure queue")
    async_max_event_age_seconds: int = knob(6 * 3600, "Lambda async maximum event age")
    rule_retry_attempts: int = knob(185, "EventBridge target retries before its DLQ")
    rule_max_event_age_seconds: int = knob(24 * 3600, "EventBridge target maximum event age")

    # Operations
    alarm_email: str | None = knob(None, "email subscribed to the alarm topic")
    archive_freshness_alarm_seconds: int = knob(1800, "archive record age that alarms")
    write_latency_alarm_ms: int = knob(50, "PutItem p99 latency that alarms (15 min)")

    # Queues (dead-letter, conflicts, follow-ups)
    queue_retention_days: int = knob(14, "retention of every queue")
    follow_up_max_receive_count: int = knob(5, "consumer receives before a follow-up's DLQ")

    # Archive (Firehose -> S3)
    archive_buffer_mib: int = knob(128, "Firehose buffer size (MiB)")
    archive_buffer_seconds: int = knob(900, "Firehose buffer interval")
    archive_infrequent_access_after_days: int = knob(30, "archive to Standard-IA after")
    archive_glacier_after_days: int = knob(90, "archive to Glacier Flexible Retrieval after")
    archive_expire_after_days: int | None = knob(None, "archive expiry (None: keep)")
    access_log_retention_days: int = knob(365, "S3 server access log retention")

    contract: DataContract = field(
        default_factory=DataContract, metadata={"doc": "the data contract's paths (below)"}
    )

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError(f"environment {self.name!r}: " + "; ".join(problems))


def _problems(c: EnvironmentConfig) -> list[str]:
    out: list[str] = []
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", c.name):
        out.append("name must be 1-16 lowercase letters, digits or dashes")
    if c.account is not None and not re.fullmatch(r"\d{12}", c.account):
        out.append("account must be 12 digits")
    for acct in c.producer_account_ids:
        if not re.fullmatch(r"\d{12}", acct):
            out.append(f"producer account {acct!r} must be 12 digits")
    if c.producer_organization_id is not None and not re.fullmatch(
        r"o-[a-z0-9]{10,32}", c.producer_organization_id
    ):
        out.append("producer_organization_id must look like o-xxxxxxxxxx")
    if not 1 <= c.archive_buffer_mib <= 128:
        out.append("archive_buffer_mib must be 1-128 (Firehose limit)")
    if not 0 <= c.archive_buffer_seconds <= 900:
        out.append("archive_buffer_seconds must be 0-900 (Firehose limit)")
    if not 0 <= c.async_retry_attempts <= 2:
        out.append("async_retry_attempts must be 0-2 (Lambda limit)")
    if not 60 <= c.async_max_event_age_seconds <= 6 * 3600:
        out.append("async_max_event_age_seconds must be 60-21600 (Lambda limit)")
    if not 0 <= c.rule_retry_attempts <= 185:
        out.append("rule_retry_attempts must be 0-185 (EventBridge limit)")
    if not 60 <= c.rule_max_event_age_seconds <= 24 * 3600:
        out.append("rule_max_event_age_seconds must be 60-86400 (EventBridge limit)")
    if not 128 <= c.persister_memory_mb <= 10240:
        out.append("persister_memory_mb must be 128-10240")
    if not 1 <= c.persister_timeout_seconds <= 900:
        out.append("persister_timeout_seconds must be 1-900")
    if c.log_retention_days not in LOG_RETENTION_DAYS:
        out.append(f"log_retention_days must be one of {LOG_RETENTION_DAYS}")
    if c.platform_log_level not in ("DEBUG", "INFO", "WARN"):
        out.append("platform_log_level must be DEBUG, INFO or WARN")
    if c.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        out.append("log_level must be DEBUG, INFO, WARNING or ERROR")
    if not c.archive_infrequent_access_after_days < c.archive_glacier_after_days:
        out.append("archive tiers must go Infrequent Access before Glacier")
    if (
        c.archive_expire_after_days is not None
        and c.archive_expire_after_days <= c.archive_glacier_after_days
    ):
        out.append("archive_expire_after_days must come after the Glacier transition")
    if not 1 <= c.queue_retention_days <= 14:
        out.append("queue_retention_days must be 1-14 (SQS limit)")
    if c.contract.max_inline_item_bytes > 400_000:
        out.append("max_inline_item_bytes must stay under DynamoDB's 400 KB item limit")
    return out


ENVIRONMENTS: dict[str, EnvironmentConfig] = {
    "dev": EnvironmentConfig(
        name="dev",
        named_account_required=False,
        replay_archive_retention_days=7,
        retain_data=False,
        log_retention_days=14,
        log_level="DEBUG",
        platform_log_level="INFO",
        detailed_tracing=True,
        queue_retention_days=4,
        archive_expire_after_days=180,
        access_log_retention_days=30,
    ),
    "staging": EnvironmentConfig(
        name="staging",
        replay_archive_retention_days=30,
        log_retention_days=30,
        archive_expire_after_days=365,
        access_log_retention_days=90,
    ),
    "prod": EnvironmentConfig(
        name="prod",
        replay_archive_retention_days=365,
        log_retention_days=365,
        saga_index=True,
    ),
}


def select_environments(
    requested: str | None,
    *,
    default_account: str | None = None,
    default_region: str | None = None,
) -> list[EnvironmentConfig]:
    """The environments to synthesize: all of them, or the one named (``-c env=NAME``).

    Account and region come from the config when set there, else from the defaults given
    (the CDK CLI's CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION, read by app.py).
    """
    if requested is None or requested == "":
        chosen = list(ENVIRONMENTS.values())
    elif requested in ENVIRONMENTS:
        chosen = [ENVIRONMENTS[requested]]
    else:
        valid = ", ".join(ENVIRONMENTS)
        raise ConfigError(f"unknown environment {requested!r}: valid names are {valid}")
    return [
        replace(c, account=c.account or default_account, region=c.region or default_region)
        for c in chosen
    ]


def pin_accounts(
    configs: list[EnvironmentConfig],
    accounts: Any,
    *,
    caller_account: str | None,
    caller_region: str | None,
) -> list[EnvironmentConfig]:
    """Each environment's account and region when synthesizing with credentials.

    ``accounts`` is cdk.json's context ``accounts``: ``{"prod": {"account": "123456789012",
    "region": "eu-west-1"}}``. ``caller_account`` is the CLI's CDK_DEFAULT_ACCOUNT, set only
    when it found credentials. Without credentials nothing is pinned (offline synth, as CI
    runs it). With them, an environment with ``named_account_required`` must be named, and
    when a single environment is synthesized (``-c env=NAME``: deploy, diff) the credentials
    must be for its account; with several, each stack is pinned to its own account, so the
    CLI cannot deploy it into another.
    """
    if not isinstance(accounts, dict):
        raise ConfigError("context 'accounts' must map environment names to {account, region}")
    if caller_account is None:
        return [replace(c, region=c.region or caller_region) for c in configs]
    out = []
    for c in configs:
        named = accounts.get(c.name) or {}
        account = c.account or named.get("account")
        region = c.region or named.get("region") or caller_region
        where = f"context accounts.{c.name} in cdk.json"
        if c.named_account_required and not (account and (c.region or named.get("region"))):
            raise ConfigError(
                f"environment {c.name!r} must name its account and region before anything "
                f'runs with credentials: set {where} to {{"account": ..., "region": ...}}'
            )
        if len(configs) == 1 and account and account != caller_account:
            raise ConfigError(
                f"refusing environment {c.name!r}: the credentials are for account "
                f"{caller_account}, but {c.name} is account {account} ({where}); use "
                f"credentials for {account}"
            )
        out.append(replace(c, account=account or caller_account, region=region))
    return out


def validate_prefix(prefix: str) -> str:
    """The resource-name prefix (context key ``prefix``): short, lowercase, DNS-safe."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,19}", prefix):
        raise ConfigError(
            f"prefix {prefix!r} must be 2-20 lowercase letters, digits or dashes, "
            "starting with a letter"
        )
    return prefix

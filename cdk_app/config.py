"""Typed, frozen configuration of every environment: data, not code.

Each construct owns its defaults in its props (``EventBusProps``, ``PersisterProps``, ...);
an environment only overrides what differs. The README's "Configuration reference" is
generated from these classes (``make docs``) and a test fails when the two drift.
Per-environment differences are chosen with Python at synth time: no CloudFormation
conditions, no environment-variable reads inside constructs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from kahula_core.spec import ContractPaths, FollowUpRule

from .constructs.aggregate_event_store import AggregateEventStoreProps
from .constructs.archive_catalog import ArchiveCatalogProps
from .constructs.common import DEFAULT_PREFIX, LogLevel, Naming, PlatformLogLevel, knob, nested
from .constructs.encryption import EncryptionProps
from .constructs.event_api import EventApiProps
from .constructs.event_archive import EventArchiveProps
from .constructs.event_bus import EventBusProps
from .constructs.event_table import EventTableProps
from .constructs.follow_up_routing import FollowUpRoutingProps
from .constructs.monitoring import MonitoringProps
from .constructs.persister import PersisterProps
from .constructs.queue_ingest import QueueIngestProps
from .constructs.secure_bucket import ObjectLockMode
from .constructs.stream_ingest import StreamIngestProps

__all__ = [
    "DEFAULT_PREFIX",
    "ENVIRONMENTS",
    "ConfigError",
    "ContractPaths",
    "EnvironmentConfig",
    "FollowUpRule",
    "Naming",
    "pin_accounts",
    "select_environments",
    "validate_prefix",
]


class ConfigError(ValueError):
    """A configuration value is invalid or an environment name is unknown."""


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """One deployment environment: its identity, and the props of each construct."""

    name: str = knob("", "environment name: stack `{prefix}-{name}`, resource suffix")
    account: str | None = knob(None, "AWS account; else CDK_DEFAULT_ACCOUNT")
    region: str | None = knob(None, "AWS region; else CDK_DEFAULT_REGION")
    named_account_required: bool = knob(
        True, "with credentials, synth needs cdk.json `accounts` to name its account + region"
    )
    termination_protection: bool = knob(True, "CloudFormation termination protection")
    bus: EventBusProps = nested(EventBusProps, "the event bus (`EventBusProps`)")
    table: EventTableProps = nested(EventTableProps, "the events table (`EventTableProps`)")
    persister: PersisterProps = nested(PersisterProps, "the persister (`PersisterProps`)")
    archive: EventArchiveProps = nested(EventArchiveProps, "the archive (`EventArchiveProps`)")
    follow_ups: FollowUpRoutingProps = nested(
        FollowUpRoutingProps, "follow-up routing (`FollowUpRoutingProps`)"
    )
    monitoring: MonitoringProps = nested(MonitoringProps, "alarms (`MonitoringProps`)")
    aggregates: AggregateEventStoreProps | None = knob(
        None, "the aggregate event store (`AggregateEventStoreProps`; None: not deployed)"
    )
    stream: StreamIngestProps | None = knob(
        None, "the Kinesis front door (`StreamIngestProps`; None: not deployed)"
    )
    queue: QueueIngestProps | None = knob(
        None, "the SQS FIFO front door (`QueueIngestProps`; None: not deployed)"
    )
    api: EventApiProps | None = knob(None, "the HTTP API (`EventApiProps`; None: not deployed)")
    catalog: ArchiveCatalogProps | None = nested(
        ArchiveCatalogProps, "SQL over the archive (`ArchiveCatalogProps`; None: not deployed)"
    )
    encryption: EncryptionProps = nested(
        EncryptionProps, "customer managed key for buckets, queues, log groups (`EncryptionProps`)"
    )
    short_log_retention_reason: str | None = knob(
        None, "why log groups keep under a year here (acknowledges CT.CLOUDWATCH.PR.2)"
    )

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", self.name):
            problems.append("name must be 1-16 lowercase letters, digits or dashes")
        if self.account is not None and not re.fullmatch(r"\d{12}", self.account):
            problems.append("account must be 12 digits")
        reason = self.short_log_retention_reason
        if reason is not None and len(reason.strip()) < 20:
            problems.append("short_log_retention_reason must say why (20 characters or more)")
        if problems:
            raise ConfigError(f"environment {self.name!r}: " + "; ".join(problems))

    def naming(self, prefix: str) -> Naming:
        return Naming(prefix, self.name)


_NOT_THE_RECORD = "Pre-production: logs serve debugging, not audit; kept weeks (prod: a year)."


def _throwaway(name: str, **overrides: object) -> EnvironmentConfig:
    """An environment whose data goes with its stack: nothing retained, short retention."""
    return EnvironmentConfig(
        name=name,
        named_account_required=False,
        termination_protection=False,
        bus=EventBusProps(archive_retention_days=7),
        table=EventTableProps(retain=False),
        persister=PersisterProps(
            retain=False,
            log_retention_days=14,
            log_level=LogLevel.DEBUG,
            platform_log_level=PlatformLogLevel.INFO,
            active_tracing=True,
            detailed_tracing=True,
            queue_retention_days=4,
        ),
        archive=EventArchiveProps(
            retain=False,
            log_retention_days=14,
            queue_retention_days=4,
            expire_after_days=180,
            access_log_retention_days=30,
        ),
        follow_ups=FollowUpRoutingProps(queue_retention_days=4),
        monitoring=MonitoringProps(retain=False),
        encryption=EncryptionProps(retain=False),
        aggregates=AggregateEventStoreProps(retain=False, backups=False),
        short_log_retention_reason=_NOT_THE_RECORD,
        api=EventApiProps(log_retention_days=14, log_level=LogLevel.DEBUG),
        catalog=ArchiveCatalogProps(retain=False, results_expire_after_days=1),
        **overrides,  # type: ignore[arg-type]
    )


ENVIRONMENTS: dict[str, EnvironmentConfig] = {
    "dev": _throwaway(
        "dev",
        stream=StreamIngestProps(
            retain=False,
            log_retention_days=14,
            log_level=LogLevel.DEBUG,
            platform_log_level=PlatformLogLevel.INFO,
            queue_retention_days=4,
        ),
        queue=QueueIngestProps(
            retain=False,
            log_retention_days=14,
            log_level=LogLevel.DEBUG,
            default_route="default",
            platform_log_level=PlatformLogLevel.INFO,
        ),
    ),
    "staging": EnvironmentConfig(
        name="staging",
        bus=EventBusProps(archive_retention_days=30),
        persister=PersisterProps(log_retention_days=30),
        archive=EventArchiveProps(
            log_retention_days=30,
            expire_after_days=365,
            access_log_retention_days=90,
            # The lock is on before prod, so a first deploy proves Firehose delivers into it.
            object_lock_mode=ObjectLockMode.GOVERNANCE,
            object_lock_days=30,
        ),
        aggregates=AggregateEventStoreProps(retain=True, backups=True, backup_retention_days=90),
        short_log_retention_reason=_NOT_THE_RECORD,
    ),
    "prod": EnvironmentConfig(
        name="prod",
        bus=EventBusProps(archive_retention_days=365),
        persister=PersisterProps(log_retention_days=365),
        archive=EventArchiveProps(
            log_retention_days=365, object_lock_mode=ObjectLockMode.GOVERNANCE
        ),
        aggregates=AggregateEventStoreProps(retain=True, backups=True, backup_retention_days=90),
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

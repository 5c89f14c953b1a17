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

from kahula_core.spec import ContractPaths, FollowUpRule

from .constructs.common import DEFAULT_PREFIX, LogLevel, Naming, PlatformLogLevel, knob, nested
from .constructs.encryption import EncryptionProps
from .constructs.event_archive import EventArchiveProps
from .constructs.event_bus import EventBusProps
from .constructs.event_table import EventTableProps
from .constructs.follow_up_routing import FollowUpRoutingProps
from .constructs.monitoring import MonitoringProps
from .constructs.persister import PersisterProps
from .constructs.secure_bucket import ObjectLockMode

__all__ = [
    "DEFAULT_PREFIX",
    "ENVIRONMENTS",
    "ConfigError",
    "ContractPaths",
    "EnvironmentConfig",
    "FollowUpRule",
    "Naming",
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
    termination_protection: bool = knob(True, "CloudFormation termination protection")
    bus: EventBusProps = nested(EventBusProps, "the event bus (`EventBusProps`)")
    table: EventTableProps = nested(EventTableProps, "the events table (`EventTableProps`)")
    persister: PersisterProps = nested(PersisterProps, "the persister (`PersisterProps`)")
    archive: EventArchiveProps = nested(EventArchiveProps, "the archive (`EventArchiveProps`)")
    follow_ups: FollowUpRoutingProps = nested(
        FollowUpRoutingProps, "follow-up routing (`FollowUpRoutingProps`)"
    )
    monitoring: MonitoringProps = nested(MonitoringProps, "alarms (`MonitoringProps`)")
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
        termination_protection=False,
        bus=EventBusProps(archive_retention_days=7),
        table=EventTableProps(retain=False),
        persister=PersisterProps(
            retain=False,
            log_retention_days=14,
            log_level=LogLevel.DEBUG,
            platform_log_level=PlatformLogLevel.INFO,
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
        short_log_retention_reason=_NOT_THE_RECORD,
        **overrides,  # type: ignore[arg-type]
    )


ENVIRONMENTS: dict[str, EnvironmentConfig] = {
    "dev": _throwaway("dev"),
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
        short_log_retention_reason=_NOT_THE_RECORD,
    ),
    "prod": EnvironmentConfig(
        name="prod",
        bus=EventBusProps(archive_retention_days=365),
        table=EventTableProps(saga_index=True),
        persister=PersisterProps(log_retention_days=365),
        archive=EventArchiveProps(
            log_retention_days=365, object_lock_mode=ObjectLockMode.GOVERNANCE
        ),
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


def validate_prefix(prefix: str) -> str:
    """The resource-name prefix (context key ``prefix``): short, lowercase, DNS-safe."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,19}", prefix):
        raise ConfigError(
            f"prefix {prefix!r} must be 2-20 lowercase letters, digits or dashes, "
            "starting with a letter"
        )
    return prefix

"""What every construct of the library shares: props helpers, names, enums, pinned flags."""

from __future__ import annotations

import enum
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Construct
from kahula_core import spec


def knob(default: Any, doc: str, *, within: tuple[int, int, str] | None = None) -> Any:
    """A props field with its one-line documentation (rendered into the README).

    ``within=(low, high, why)``: an integer field's allowed range and the limit it comes from;
    :func:`range_problems` checks every such field of a props object.
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError("use an immutable default (a tuple), props are frozen")
    metadata: dict[str, Any] = {"doc": doc}
    if within is not None:
        metadata["within"] = within
    return field(default=default, metadata=metadata)


# Allowed ranges shared by several props, each with the service limit it comes from.
SQS_RETENTION_DAYS = (1, 14, "SQS limit")
SQS_MAX_RECEIVE_COUNT = (1, 1000, "SQS limit")
SQS_VISIBILITY_SECONDS = (0, 43_200, "SQS limit")
RULE_RETRY_ATTEMPTS = (0, 185, "EventBridge limit")
RULE_MAX_EVENT_AGE_SECONDS = (60, 24 * 3600, "EventBridge limit")
LAMBDA_MEMORY_MB = (128, 10_240, "Lambda limit")
LAMBDA_TIMEOUT_SECONDS = (1, 900, "Lambda limit")
LAMBDA_RESERVED_CONCURRENCY = (1, 10_000, "Lambda")


def range_problems(props: Any) -> list[str]:
    """One message per field of ``props`` outside its declared ``within`` range (None, for an
    optional field, is always allowed)."""
    problems: list[str] = []
    for f in fields(props):
        if "within" not in f.metadata:
            continue
        value = getattr(props, f.name)
        if value is not None:
            low, high, why = f.metadata["within"]
            in_range(problems, f.name, value, low=low, high=high, why=why)
    return problems


def enum_problems(props: Any) -> list[str]:
    """One message per field whose default is an enum member but whose value is not a member
    of that enum (a plain string such as ``"INFO"`` is refused: enums are typed)."""
    problems: list[str] = []
    for f in fields(props):
        kind = type(f.default)
        if isinstance(f.default, enum.Enum) and not isinstance(getattr(props, f.name), kind):
            problems.append(f"{f.name} must be a {kind.__name__}, got {getattr(props, f.name)!r}")
    return problems


def nested(factory: Any, doc: str) -> Any:
    """A props field holding another frozen props object."""
    return field(default_factory=factory, metadata={"doc": doc})


def exclusive(construct: str, **given: Any) -> None:
    """Refuse ``existing_x`` and ``x_props`` together (the Solutions Constructs rule)."""
    named = [name for name, value in given.items() if value is not None]
    if len(named) > 1:
        raise ValueError(
            f"{construct}: pass either {' or '.join(given)}, not both "
            f"(an existing resource is used as it is; props configure a new one)"
        )


def overrides(props: Mapping[str, Any] | None, *, refused: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword arguments a user passes through ``x_props``, merged over the secure defaults.

    ``refused`` names arguments the construct owns (changing them would break what it wires).
    """
    given = dict(props or {})
    clash = sorted(set(given) & set(refused))
    if clash:
        raise ValueError(f"{', '.join(clash)} cannot be overridden: the construct sets it")
    return given


@dataclass(frozen=True)
class Naming:
    """Physical names ``{prefix}-{what}-{env}``: the original service's scheme.

    Pass one to a construct to name its resources; without it CloudFormation generates names
    (which lets two copies of a construct live in one account).
    """

    prefix: str
    env: str

    def of(self, what: str) -> str:
        return f"{self.prefix}-{what}-{self.env}"

    @property
    def event_bus(self) -> str:
        return self.of("events")

    @property
    def table(self) -> str:
        return self.of("events")

    @property
    def delivery_stream(self) -> str:
        return self.of("events")

    @property
    def persister_function(self) -> str:
        return self.of("event-persister")

    @property
    def follow_up_source(self) -> str:
        return spec.follow_up_source(self.prefix)

    @property
    def metrics_namespace(self) -> str:
        return spec.metrics_namespace(self.prefix)

    @property
    def alarm_prefix(self) -> str:
        return f"{self.prefix}-{self.env}"


DEFAULT_PREFIX = "kahula"


class LogLevel(enum.StrEnum):
    """The function's own (Powertools) log level."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class PlatformLogLevel(enum.StrEnum):
    """Lambda's platform lines (START/END/REPORT at INFO). WARN drops them: cost."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"


# The retention periods CloudWatch Logs offers, in days, by their CDK enum names.
_RETENTION = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
LOG_RETENTION_DAYS = tuple(_RETENTION)


def log_retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"log retention must be one of {LOG_RETENTION_DAYS} days, got {days}")
    return getattr(logs.RetentionDays, _RETENTION[days])  # type: ignore[no-any-return]


def check(problems: list[str], what: str) -> None:
    """Raise one ValueError naming every problem of a props object."""
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))


def in_range(problems: list[str], name: str, value: int, *, low: int, high: int, why: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{name} must be an integer from {low} to {high} ({why}), got {value!r}")


# Feature flags that change the IAM policies or resource policies the constructs synthesize.
# A construct pins them on its own node, so what it grants is the same in a bare App as in
# this repository's app (whose cdk.json sets the same values).
PINNED_FEATURE_FLAGS: Mapping[str, Any] = {
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/aws-s3:publicAccessBlockedByDefault": True,
    "@aws-cdk/aws-events:eventsTargetQueueSameAccount": True,
    "@aws-cdk/aws-events:requireEventBusPolicySid": True,
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/aws-lambda:createNewPoliciesWithAddToRolePolicy": False,
    "@aws-cdk/aws-lambda:useCdkManagedLogGroup": True,
    "@aws-cdk/aws-kms:reduceCrossAccountRegionPolicyScope": True,
    "@aws-cdk/aws-sns-subscriptions:restrictSqsDescryption": True,
}


# The constructs that pinned the flags on their own node. Context is looked up from a node
# towards the root, so a construct inside one of them has the values already.
_PINNED: weakref.WeakSet[Construct] = weakref.WeakSet()


def pin_feature_flags(construct: Construct) -> None:
    """Call first in a construct's __init__, before it has children."""
    node = construct.node  # each attribute read is a round trip to the jsii process
    if node.scope in _PINNED:
        return
    for flag, value in PINNED_FEATURE_FLAGS.items():
        node.set_context(flag, value)
    _PINNED.add(construct)

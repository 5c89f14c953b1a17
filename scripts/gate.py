"""The one decision both diff paths share: may this template replace what is there?

`make diff` (offline, base git ref vs working tree) and the deploy gate (the stack's deployed
template vs the one about to be deployed) both hand two CloudFormation templates to
``compare`` and the changes to ``decide``. No regular expressions over `cdk diff` text: the
templates are compared resource by resource, and which properties force a replacement comes
from the CloudFormation resource schemas that cfn-lint ships (``createOnlyProperties``:
changing one replaces the resource; ``conditionalCreateOnlyProperties``: it may).

A stateful resource (a table, bucket, queue, bus, archive, stream, log group) is *lost* when
its logical id disappears, its type changes, a create-only property changes, or a create-only
property refers to a resource that is itself replaced. A lost stateful resource blocks unless
an allowance names it for this run.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

# Replacing or deleting one of these loses data or in-flight events.
STATEFUL_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::Events::EventBus",
        "AWS::Events::Archive",
        "AWS::KinesisFirehose::DeliveryStream",
        "AWS::Logs::LogGroup",
    }
)
POLICY_TYPES = frozenset(
    {
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::OIDCProvider",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::Events::EventBusPolicy",
        "AWS::Lambda::Permission",
        "AWS::KMS::Key",
    }
)
POLICY_PROPERTIES = frozenset({"Policy", "PolicyDocument", "AssumeRolePolicyDocument", "KeyPolicy"})
# Changes to these alone do not change who may do what.
COSMETIC_PROPERTIES = frozenset({"Tags", "Description"})
# CDK's own bookkeeping: never a change anyone reviews.
IGNORED_TYPES = frozenset({"AWS::CDK::Metadata"})
SCHEMA_REGION = "us-east-1"  # create-only properties do not differ by region

_ALLOWANCE = re.compile(r"[A-Za-z][A-Za-z0-9-]*/(\*|[A-Za-z][A-Za-z0-9]*)")
_SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)")


class GateError(Exception):
    """The gate could not decide: bad input, a template it cannot read, a failed fetch."""


class Outcome(enum.Enum):
    """What the gate concluded, its exit code, and the word the workflows key on."""

    NO_CHANGES = ("no-changes", 0)
    FIRST_DEPLOY = ("first-deploy", 0)
    ALLOWED = ("allowed", 0)
    BLOCKED = ("blocked", 1)
    DIFF_FAILED = ("diff-failed", 2)

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def exit_code(self) -> int:
        return self.value[1]


@dataclass(frozen=True)
class ResourceChange:
    stack: str
    logical_id: str
    type: str
    op: str  # "+" added, "-" removed, "~" modified
    properties: tuple[str, ...] = ()  # top-level properties that differ
    replaced_by: tuple[str, ...] = ()  # why it is (or may be) replaced
    retained: bool = False  # removed, but DeletionPolicy Retain: orphaned, not deleted
    old_type: str | None = None
    details: tuple[str, ...] = ()  # "Prop: old -> new" lines for a reader

    @property
    def key(self) -> str:
        return f"{self.stack}/{self.logical_id}"

    @property
    def loses_state(self) -> bool:
        stateful = self.type in STATEFUL_TYPES or self.old_type in STATEFUL_TYPES
        return stateful and (self.op == "-" or bool(self.replaced_by))

    @property
    def reason(self) -> str:
        if self.op == "-":
            suffix = " (DeletionPolicy Retain: orphaned, not deleted)" if self.retained else ""
            return "removed from the template" + suffix
        return ", ".join(self.replaced_by) or ", ".join(self.properties)

    @property
    def touches_policy(self) -> bool:
        if self.type in POLICY_TYPES:
            return self.op != "~" or not set(self.properties) <= COSMETIC_PROPERTIES
        return bool(set(self.properties) & POLICY_PROPERTIES)

    def line(self) -> str:
        action = " (replaced)" if self.replaced_by and self.op == "~" else ""
        text = f"[{self.op}] {self.type} {self.logical_id}{action}"
        if self.op == "-" or self.replaced_by:
            text += f": {self.reason}"
        elif self.properties:
            text += f": {', '.join(self.properties)}"
        return text


@dataclass(frozen=True)
class Allowance:
    """``STACK/LOGICAL_ID`` (or ``STACK/*``) that may be replaced or removed in this run."""

    target: str
    source: str  # where it came from: "--allow-replacement", "commit abc123 trailer", ...

    def covers(self, change: ResourceChange) -> bool:
        return self.target in (change.key, f"{change.stack}/*")


def parse_allowances(text: str, source: str) -> list[Allowance]:
    """Comma- or space-separated targets; anything that is not STACK/LOGICAL_ID is an error."""
    out = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        if not _ALLOWANCE.fullmatch(item):
            raise GateError(
                f"allowance {item!r} from {source} is not STACK/LOGICAL_ID "
                "(e.g. kahula-prod/EventTable23755758) or STACK/*"
            )
        out.append(Allowance(item, source))
    return out


def trailer_allowances(message: str, source: str) -> list[Allowance]:
    """``Allow-Replacement:`` trailers in a commit message's last paragraph."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:  # a subject line alone has no trailers
        return []
    out: list[Allowance] = []
    for line in paragraphs[-1].splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "allow-replacement":
            out += parse_allowances(value, source)
    return out


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    headline: str
    changes: tuple[ResourceChange, ...] = ()
    blocked: tuple[ResourceChange, ...] = ()
    allowed: tuple[tuple[ResourceChange, Allowance], ...] = ()
    unused: tuple[Allowance, ...] = ()
    hint: str = ""

    @property
    def policy_changes(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.changes if c.touches_policy)

    def render(self) -> str:
        """The report a person reads: headline, what is blocked or allowed, then everything."""
        lines = [self.headline]
        if self.blocked:
            lines.append("These changes would replace or remove stateful resources:")
            lines += [f"  x {c.key} {c.type}: {c.reason}" for c in self.blocked]
            if self.hint:
                lines.append(self.hint)
        for change, allowance in self.allowed:
            lines.append(
                f"  allowed for this run ({allowance.source}): {change.key}: {change.reason}"
            )
        for allowance in self.unused:
            lines.append(
                f"  unused allowance ({allowance.source}): {allowance.target} matched nothing"
            )
        if self.policy_changes:
            lines.append("IAM and resource-policy changes (review these first):")
            lines += [f"  ! {c.key} {c.type} [{c.op}]" for c in self.policy_changes]
        stacks = sorted({c.stack for c in self.changes})
        for stack in stacks:
            lines.append(f"--- {stack}")
            for c in (c for c in self.changes if c.stack == stack):
                lines.append(f"{c.line()}")
                lines += [f"    {d}" for d in c.details]
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Comparing two templates


@cache
def create_only(type_: str) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """(property path, certain) for each property whose change replaces a ``type_`` resource."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # noqa: PLC0415 - heavy, tools only
    from cfnlint.schema.manager import ResourceNotFoundError  # noqa: PLC0415

    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, type_).schema
    except ResourceNotFoundError:
        return ()  # custom resources and unknown types: no property is known to replace
    out = []
    kinds = (("createOnlyProperties", True), ("conditionalCreateOnlyProperties", False))
    for key, certain in kinds:
        for pointer in schema.get(key, []):
            parts = pointer.split("/")[2:]  # "/properties/A/B" -> ["A", "B"]
            if "*" in parts:  # compare the whole list the wildcard ranges over
                parts = parts[: parts.index("*")]
            out.append((tuple(parts), certain))
    return tuple(out)


_MISSING = object()
DYNAMODB_TABLES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")


def _at(properties: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = properties
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def references(value: Any) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                if isinstance(text, str):
                    found |= set(_SUB_REFERENCE.findall(text))
                found |= references(inner[1:] if isinstance(inner, list) else None)
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def _short(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 100 else text[:97] + "..."


def resources_of(template: Mapping[str, Any], what: str) -> dict[str, dict[str, Any]]:
    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        raise GateError(f"{what} has no Resources section")
    return {
        lid: dict(r)
        for lid, r in resources.items()
        if isinstance(r, Mapping) and r.get("Type") not in IGNORED_TYPES
    }


def _key_types(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB table's key attributes with their types. The schema does not list
    AttributeDefinitions as create-only (a non-key attribute may change), but changing the
    type of the table's own key replaces the table."""
    keys = {
        k.get("AttributeName") for k in properties.get("KeySchema") or [] if isinstance(k, Mapping)
    }
    return {
        str(d.get("AttributeName")): d.get("AttributeType")
        for d in properties.get("AttributeDefinitions") or []
        if isinstance(d, Mapping) and d.get("AttributeName") in keys
    }


def compare(
    stack: str, old: Mapping[str, Any], new: Mapping[str, Any], *, old_name: str = "old"
) -> list[ResourceChange]:
    """Every resource that is added, removed or modified from ``old`` to ``new``."""
    before = resources_of(old, f"{stack} ({old_name})")
    after = resources_of(new, f"{stack} (new)")
    replaced: dict[str, list[str]] = {}
    modified: dict[str, list[str]] = {}
    for lid in sorted(before.keys() & after.keys()):
        a, b = before[lid], after[lid]
        if a.get("Type") != b.get("Type"):
            replaced[lid] = [f"type changes from {a.get('Type')} to {b.get('Type')}"]
            modified[lid] = ["Type"]
            continue
        pa, pb = a.get("Properties") or {}, b.get("Properties") or {}
        modified[lid] = sorted(k for k in pa.keys() | pb.keys() if pa.get(k) != pb.get(k))
        for path, certain in create_only(str(b.get("Type"))):
            if _at(pa, path) != _at(pb, path):
                note = "requires replacement" if certain else "may require replacement"
                replaced.setdefault(lid, []).append(f"{'.'.join(path)} ({note})")
        if b.get("Type") in DYNAMODB_TABLES and lid not in replaced:
            old_keys, new_keys = _key_types(pa), _key_types(pb)
            if old_keys.keys() == new_keys.keys() and old_keys != new_keys:
                replaced[lid] = ["AttributeDefinitions of a key attribute (requires replacement)"]
    # A create-only property that refers to a replaced resource gets a new value at deploy.
    grown = True
    while grown:
        grown = False
        for lid in sorted(before.keys() & after.keys()):
            if lid in replaced or before[lid].get("Type") != after[lid].get("Type"):
                continue
            props = after[lid].get("Properties") or {}
            for path, _ in create_only(str(after[lid].get("Type"))):
                hit = sorted(references(_at(props, path)) & replaced.keys())
                if hit:
                    replaced[lid] = [f"{'.'.join(path)} refers to replaced {hit[0]}"]
                    grown = True
                    break

    changes: list[ResourceChange] = []
    for lid in sorted(before.keys() | after.keys()):
        if lid not in after:
            r = before[lid]
            retained = r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
            changes.append(ResourceChange(stack, lid, str(r.get("Type")), "-", retained=retained))
        elif lid not in before:
            changes.append(ResourceChange(stack, lid, str(after[lid].get("Type")), "+"))
        else:
            pa = before[lid].get("Properties") or {}
            pb = after[lid].get("Properties") or {}
            attributes = sorted(
                k
                for k in (before[lid].keys() | after[lid].keys()) - {"Type", "Properties"}
                if before[lid].get(k) != after[lid].get(k)
            )
            names = modified[lid] + attributes
            if not names and lid not in replaced:
                continue
            changes.append(
                ResourceChange(
                    stack,
                    lid,
                    str(after[lid].get("Type")),
                    "~",
                    properties=tuple(names),
                    replaced_by=tuple(replaced.get(lid, ())),
                    old_type=str(before[lid].get("Type")),
                    details=tuple(
                        f"{n}: {_short(pa.get(n, _MISSING))} -> {_short(pb.get(n, _MISSING))}"
                        for n in modified[lid]
                        if n != "Type"
                    )
                    + tuple(
                        f"{n}: {_short(before[lid].get(n, _MISSING))} -> "
                        f"{_short(after[lid].get(n, _MISSING))}"
                        for n in attributes
                        if n != "Metadata"
                    ),
                )
            )
    return changes


def removed_stack(stack: str, old: Mapping[str, Any]) -> list[ResourceChange]:
    """A stack that is gone: every resource in it is removed."""
    return compare(stack, old, {"Resources": {}})


# ----------------------------------------------------------------------------------------------
# Deciding


def decide(
    changes: Iterable[ResourceChange],
    allowances: Iterable[Allowance] = (),
    *,
    subject: str,
    hint: str = "",
) -> Verdict:
    """Blocked if any stateful resource is lost without an allowance; else allowed or no changes.

    ``subject`` names what was compared ("kahula-prod against the deployed stack"); ``hint``
    tells the reader how to allow an intended replacement where this gate runs.
    """
    changes = tuple(changes)
    allowances = tuple(allowances)
    if not changes:
        return Verdict(
            Outcome.NO_CHANGES,
            f"NO CHANGES: {subject}",
            unused=allowances,
        )
    blocked: list[ResourceChange] = []
    allowed: list[tuple[ResourceChange, Allowance]] = []
    for change in (c for c in changes if c.loses_state):
        allowance = next((a for a in allowances if a.covers(change)), None)
        if allowance is None:
            blocked.append(change)
        else:
            allowed.append((change, allowance))
    used = {a for _, a in allowed}
    unused = tuple(a for a in allowances if a not in used)
    if blocked:
        headline = (
            f"BLOCKED: {subject}: {len(blocked)} stateful resource(s) would be replaced or removed"
        )
        return Verdict(
            Outcome.BLOCKED, headline, changes, tuple(blocked), tuple(allowed), unused, hint
        )
    headline = f"ALLOWED: {subject}: {len(changes)} resource change(s); " + (
        f"{len(allowed)} replacement(s) allowed for this run"
        if allowed
        else "no stateful resource is replaced or removed"
    )
    return Verdict(Outcome.ALLOWED, headline, changes, (), tuple(allowed), unused)


def first_deploy(stack: str, new: Mapping[str, Any], where: str) -> Verdict:
    created = [
        ResourceChange(stack, lid, str(r.get("Type")), "+")
        for lid, r in sorted(resources_of(new, stack).items())
    ]
    return Verdict(
        Outcome.FIRST_DEPLOY,
        f"FIRST DEPLOY: {stack} does not exist in {where}; {len(created)} resources will be "
        "created",
        tuple(created),
    )


def failed(reason: str) -> Verdict:
    return Verdict(
        Outcome.DIFF_FAILED,
        f"DIFF FAILED: {reason.strip()}\nNothing was compared, so nothing may be deployed.",
    )


def merge(verdicts: Iterable[Verdict], *, subject: str, hint: str = "") -> Verdict:
    """One verdict for several stacks (``make diff`` over every environment)."""
    verdicts = list(verdicts)
    for v in verdicts:
        if v.outcome is Outcome.DIFF_FAILED:
            return v
    changes = tuple(c for v in verdicts for c in v.changes)
    allowances: dict[Allowance, None] = {}
    for v in verdicts:
        allowances.update(dict.fromkeys(a for _, a in v.allowed))
        allowances.update(dict.fromkeys(v.unused))
    return decide(changes, allowances, subject=subject, hint=hint)


@dataclass
class Report:
    """Where a verdict goes besides stdout: the job summary and step outputs on GitHub."""

    summary_path: str | None = None
    output_path: str | None = None
    extra: list[str] = field(default_factory=list)

    def publish(self, verdict: Verdict, title: str) -> None:
        print(verdict.render())
        if self.output_path:
            with open(self.output_path, "a", encoding="utf-8") as out:
                out.write(f"outcome={verdict.outcome.label}\n")
        if self.summary_path:
            with open(self.summary_path, "a", encoding="utf-8") as out:
                out.write(summary_markdown(verdict, title, self.extra))


def summary_markdown(verdict: Verdict, title: str, extra: Iterable[str] = ()) -> str:
    lines = [f"### {title}", "", f"**{verdict.headline.splitlines()[0]}**", ""]
    for change, allowance in verdict.allowed:
        lines.append(
            f"- Allowed for this run only, by {allowance.source}: `{change.key}` ({change.reason})"
        )
    for allowance in verdict.unused:
        lines.append(f"- Allowance `{allowance.target}` ({allowance.source}) matched nothing")
    for change in verdict.blocked:
        lines.append(f"- Blocked: `{change.key}` {change.type}: {change.reason}")
    lines += list(extra)
    lines += ["", "<details><summary>report</summary>", "", "```", verdict.render(), "```"]
    lines += ["</details>", ""]
    return "\n".join(lines) + "\n"

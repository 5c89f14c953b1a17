"""A synthesized CloudFormation template read as a topology: what exists and what it is called.

Physical names follow the template where it names a resource; where CloudFormation would
generate one (buckets), a deterministic local name is used. Ref and Fn::GetAtt resolve the way
CloudFormation resolves them for each resource type, so a function's environment or a rule's
target comes out exactly as it would in AWS, pointed at the local resources.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"  # moto's default account


class UnsupportedTemplate(ValueError):
    """The template uses something the local pipeline does not simulate."""


@dataclass
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    metadata: dict[str, Any]


class Topology:
    def __init__(
        self, template: dict[str, Any], *, stack_name: str, region: str, assembly_dir: Path
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.assembly_dir = assembly_dir
        self.resources = {
            lid: Resource(lid, r["Type"], r.get("Properties", {}), r.get("Metadata", {}))
            for lid, r in template["Resources"].items()
        }
        # Filled by provisioning: what moto answered (queue URLs).
        self.queue_urls: dict[str, str] = {}

    @classmethod
    def from_assembly(cls, assembly_dir: Path, stack_name: str, region: str) -> Topology:
        template = json.loads((assembly_dir / f"{stack_name}.template.json").read_text())
        return cls(template, stack_name=stack_name, region=region, assembly_dir=assembly_dir)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == type_]

    # ------------------------------------------------------------------ names and ARNs

    def name(self, logical_id: str) -> str:
        r = self.resources[logical_id]
        p = r.properties
        explicit = {
            "AWS::SQS::Queue": "QueueName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Events::EventBus": "Name",
            "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Events::Rule": "Name",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Kinesis::Stream": "Name",
            "AWS::Kinesis::StreamConsumer": "ConsumerName",
        }.get(r.type)
        if explicit and explicit in p:
            return str(p[explicit])
        generated = f"{self.stack_name}-{logical_id}".lower()
        if r.type == "AWS::SQS::Queue" and p.get("FifoQueue"):
            return f"{generated[:75]}.fifo"  # SQS: a FIFO queue's name must end in .fifo
        if r.type == "AWS::S3::Bucket":
            return re.sub(r"[^a-z0-9-]", "-", generated)[:63]
        return generated[:64]

    def arn(self, logical_id: str) -> str:
        r, n, region = self.resources[logical_id], self.name(logical_id), self.region
        return {
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{ACCOUNT}:{n}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{n}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{n}",
            "AWS::Events::EventBus": f"arn:aws:events:{region}:{ACCOUNT}:event-bus/{n}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{ACCOUNT}:rule/{n}",
            "AWS::KinesisFirehose::DeliveryStream": (
                f"arn:aws:firehose:{region}:{ACCOUNT}:deliverystream/{n}"
            ),
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{n}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{n}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{n}:*",
            "AWS::Kinesis::Stream": f"arn:aws:kinesis:{region}:{ACCOUNT}:stream/{n}",
            "AWS::Kinesis::StreamConsumer": (
                f"{self.resolve(r.properties.get('StreamARN'))}/consumer/{n}:0"
            ),
        }[r.type]

    def ref(self, logical_id: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        if self.resources[logical_id].type == "AWS::SQS::Queue":
            return self.queue_urls[logical_id]
        return self.name(logical_id)

    def by_arn(self, arn: str) -> Resource:
        for lid in self.resources:
            try:
                if self.arn(lid) == arn:
                    return self.resources[lid]
            except KeyError:
                continue
        raise UnsupportedTemplate(f"no resource in the template has ARN {arn}")

    # ------------------------------------------------------------------ intrinsic functions

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical_id, attribute = arg
                if attribute == "Arn":
                    return self.arn(logical_id)
                if attribute == "QueueUrl":
                    return self.queue_urls[logical_id]
                if attribute == "QueueName":
                    return self.name(logical_id)
                if attribute == "ConsumerARN":
                    return self.arn(logical_id)
                raise UnsupportedTemplate(f"Fn::GetAtt {logical_id}.{attribute}")
            if fn == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in parts)
            if fn.startswith("Fn::"):
                raise UnsupportedTemplate(f"{fn} is not resolved locally")
        return {k: self.resolve(v) for k, v in value.items()}

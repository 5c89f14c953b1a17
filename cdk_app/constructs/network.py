"""Running a function inside an existing VPC, with no NAT gateway.

Off by default: the functions call only AWS APIs over TLS, and a VPC adds endpoint cost and
ENI set-up for no protection of their own. A team whose policy wants every function in a VPC
(Control Tower's CT.LAMBDA.PR.3) passes ``FunctionNetwork(vpc=..., ...)`` to the construct.

Without a NAT gateway a function in private subnets reaches AWS only through VPC endpoints.
``add_endpoints=True`` makes the construct add them: gateway endpoints for DynamoDB and S3
(free) and interface endpoints (each billed per hour and AZ) for the APIs the function calls.
Leave it False when the VPC already has them (a second interface endpoint with private DNS
for the same service cannot be created in one VPC): with the persister and a front door in
one VPC, let one of them add the endpoints, and give it the union of what both call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from .nag import acknowledge

# What the persister calls from inside the function: PutEvents and SendMessage go through
# interface endpoints; Logs and X-Ray are listed so that no call (Powertools, the X-Ray SDK
# with detailed tracing) needs a route out. Trim them with ``interface_endpoints``.
DEFAULT_INTERFACE_ENDPOINTS: tuple[ec2.InterfaceVpcEndpointAwsService, ...] = (
    ec2.InterfaceVpcEndpointAwsService.SQS,
    ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
    ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    ec2.InterfaceVpcEndpointAwsService.XRAY,
)
# A front door also archives what it stores (Firehose PutRecord/PutRecordBatch). Its event
# source mapping polls the stream or queue from Lambda's side: no endpoint for that.
ARCHIVING_INTERFACE_ENDPOINTS: tuple[ec2.InterfaceVpcEndpointAwsService, ...] = (
    *DEFAULT_INTERFACE_ENDPOINTS,
    ec2.InterfaceVpcEndpointAwsService.KINESIS_FIREHOSE,
)
GATEWAY_ENDPOINTS: tuple[ec2.GatewayVpcEndpointAwsService, ...] = (
    ec2.GatewayVpcEndpointAwsService.DYNAMODB,
    ec2.GatewayVpcEndpointAwsService.S3,
)


@dataclass(frozen=True, kw_only=True)
class FunctionNetwork:
    """Where a function runs: an existing VPC, its subnets and security groups.

    ``subnets`` defaults to the VPC's private subnets (with or without egress);
    ``security_groups`` empty lets the function get its own group (all egress, no ingress).
    ``interface_endpoints`` (with ``add_endpoints``) defaults to the APIs the construct's
    function calls.
    """

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection | None = None
    security_groups: Sequence[ec2.ISecurityGroup] = ()
    add_endpoints: bool = False
    interface_endpoints: Sequence[ec2.InterfaceVpcEndpointAwsService] | None = None

    def subnet_selection(self) -> ec2.SubnetSelection:
        return self.subnets or ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            if not self.vpc.private_subnets
            else ec2.SubnetType.PRIVATE_WITH_EGRESS
        )


@dataclass(frozen=True)
class Endpoints:
    gateways: dict[str, ec2.GatewayVpcEndpoint]
    interfaces: dict[str, ec2.InterfaceVpcEndpoint]


def add_endpoints(
    scope: Construct,
    network: FunctionNetwork,
    *,
    calls: Sequence[ec2.InterfaceVpcEndpointAwsService] = DEFAULT_INTERFACE_ENDPOINTS,
) -> Endpoints:
    """Gateway endpoints for DynamoDB and S3 and the interface endpoints, created in ``scope``:
    ``network.interface_endpoints`` when given, else ``calls`` (what the function calls).

    Interface endpoints get private DNS (the SDK's default endpoints resolve to them) and a
    security group that admits HTTPS from the VPC's CIDR only.
    """
    subnets = network.subnet_selection()
    gateways = {
        name: ec2.GatewayVpcEndpoint(
            scope,
            f"{name.capitalize()}Gateway",
            vpc=network.vpc,
            service=service,
            subnets=[subnets],
        )
        for name, service in zip(("dynamodb", "s3"), GATEWAY_ENDPOINTS, strict=True)
    }
    interfaces = {
        service.short_name: ec2.InterfaceVpcEndpoint(
            scope,
            f"{service.short_name.capitalize()}Endpoint",
            vpc=network.vpc,
            service=service,
            subnets=subnets,
            private_dns_enabled=True,
            open=True,
        )
        for service in (
            calls if network.interface_endpoints is None else network.interface_endpoints
        )
    }
    for endpoint in interfaces.values():
        group = endpoint.node.find_child("SecurityGroup")
        acknowledge(
            group,
            "AwsSolutions-EC23",
            "The endpoint admits HTTPS (443) from the VPC's own CIDR only; cdk-nag cannot "
            "read the CIDR because it is a reference to the VPC.",
        )
    return Endpoints(gateways=gateways, interfaces=interfaces)

"""The functions' code asset and runtime: lambdas/ in a checkout, kahula_lambdas when installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from aws_cdk import CfnDynamicReference, CfnDynamicReferenceService
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .common import LogLevel, PlatformLogLevel


def _lambdas_dir() -> Path:
    """The folder holding the runtime packages (``kahula_core`` and one per entry point)."""
    checkout = Path(__file__).resolve().parents[2] / "lambdas"
    if (checkout / "kahula_core" / "spec.py").is_file():
        return checkout
    found = importlib.util.find_spec("kahula_lambdas")
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError("the functions' code (kahula_lambdas) is not installed")
    return Path(next(iter(found.submodule_search_locations)))


# Runtime code imports nothing from aws_cdk; every function shares one asset (the core is
# common to all of them, and one asset uploads once).
LAMBDAS_DIR = _lambdas_dir()
RUNTIME = lambda_.Runtime.PYTHON_3_14
HANDLERS = {
    "persister": "persister.handler.lambda_handler",
    "stream_consumer": "stream_consumer.handler.lambda_handler",
    "queue_consumer": "queue_consumer.handler.lambda_handler",
    "api-writer": "api.writer.lambda_handler",
    "api-reader": "api.reader.lambda_handler",
    "api-aggregate-writer": "api.aggregate_writer.lambda_handler",
    "api-aggregate-reader": "api.aggregate_reader.lambda_handler",
}
ASSET_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "**/requirements*.txt",
    "**/.pytest_cache",
    "**/py.typed",
]


def function_code() -> lambda_.Code:
    """The asset: deterministic (content-hashed, no bundling, no Docker)."""
    return lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=ASSET_EXCLUDES)


def powertools_layer_arn_parameter(version: str, runtime: lambda_.Runtime) -> str:
    """The public SSM parameter where AWS publishes the official Powertools layer ARN.

    Resolved by CloudFormation at deploy time, in the stack's own region, so the exact pinned
    version is used everywhere without a synth-time AWS call or a hard-coded layer number.
    """
    return f"/aws/service/powertools/python/arm64/{runtime.name}/{version}"


def powertools_layer(scope: Construct, construct_id: str, version: str) -> lambda_.ILayerVersion:
    arn = CfnDynamicReference(
        CfnDynamicReferenceService.SSM, powertools_layer_arn_parameter(version, RUNTIME)
    ).to_string()
    return lambda_.LayerVersion.from_layer_version_arn(scope, construct_id, arn)


def function_logging(log_level: LogLevel, platform_log_level: PlatformLogLevel) -> dict[str, Any]:
    """The logging arguments every function of the library gets: JSON logs, the platform's
    START/END/REPORT lines only at ``platform_log_level``, the application's at ``log_level``."""
    return {
        "logging_format": lambda_.LoggingFormat.JSON,
        "system_log_level_v2": getattr(lambda_.SystemLogLevel, platform_log_level.value),
        "application_log_level_v2": getattr(
            lambda_.ApplicationLogLevel, {"WARNING": "WARN"}.get(log_level.value, log_level.value)
        ),
    }

"""Synthesize the app in this process, exactly as `cdk synth` does (cdk.json's context)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# What the CDK CLI sets when no AWS profile names a region (and CI has none).
CLI_DEFAULT_REGION = "us-east-1"


def use_project_node() -> None:
    """Put the project's Node 22 (node_modules/.bin) first on PATH, for jsii."""
    node_bin = ROOT / "node_modules" / ".bin"
    path = os.environ.get("PATH", "")
    if node_bin.is_dir() and str(node_bin) not in path.split(os.pathsep):
        os.environ["PATH"] = f"{node_bin}{os.pathsep}{path}"


# Context the CDK CLI adds to cdk.json's on every synth (see CDK_CONTEXT_JSON in its child).
CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
}


def cdk_context() -> dict[str, Any]:
    """What the CLI would pass: cdk.json's context plus its own defaults."""
    return {**json.loads((ROOT / "cdk.json").read_text())["context"], **CLI_CONTEXT}


def synthesize(outdir: Path, configs: list[Any], prefix: str = "kahula") -> tuple[Any, list[Any]]:
    """(cloud assembly, stacks) for the given environments, with cdk-nag on."""
    use_project_node()
    from aws_cdk import App  # noqa: PLC0415 - jsii starts only when synthesis is needed

    from stacks import build_app  # noqa: PLC0415

    configs = [c if c.region else replace(c, region=CLI_DEFAULT_REGION) for c in configs]
    app = App(context=cdk_context(), outdir=str(outdir))
    stacks = build_app(app, configs, prefix=prefix)
    return app.synth(), stacks

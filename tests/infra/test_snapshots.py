"""Every template, for every environment, as a reviewable snapshot.

A template change fails here until the snapshot is updated on purpose: `make snapshot`.
The snapshot holds what the team reviews: CDKMetadata and the `aws:cdk:path` metadata are
dropped, and only asset hashes are masked, so a CDK upgrade or a construct rename does not
rewrite it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from cdk_app.config import select_environments
from cdk_app.constructs.function_code import LAMBDAS_DIR

from .conftest import synthesize

ASSET_HASH = re.compile(r"[0-9a-f]{64}")
# Keys that change with the CDK version or a construct's path, not with what is deployed.
DROPPED = {
    "CDKMetadata",
    "aws:cdk:path",
    "aws:asset:path",
    "aws:asset:is-bundled",
    "aws:asset:property",
}


def reviewable(template):
    out = mask(template)
    for resource in out.get("Resources", {}).values():
        if resource.get("Metadata") == {}:
            del resource["Metadata"]
    out.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    if out.get("Conditions") == {}:
        del out["Conditions"]
    return out


def mask(value):
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items() if k not in DROPPED}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return ASSET_HASH.sub("<asset-hash>", value)
    return value


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def test_template_snapshot(synth, env, snapshot_json):
    assert reviewable(synth.raw[env]) == snapshot_json


def code_key(synth, env):
    (function,) = [
        f
        for f in synth.resources(env, "AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName", "").startswith("kahula-event-persister")
    ]
    return function["Properties"]["Code"]["S3Key"]


def test_lambda_asset_hash_is_deterministic_and_ignores_bytecode(synth, tmp_path: Path):
    # GIVEN stray bytecode in the asset folder (a local test run leaves it there)
    junk = LAMBDAS_DIR / "persister" / "__pycache__" / "determinism-probe.cpython-311.pyc"
    junk.parent.mkdir(exist_ok=True)
    junk.write_bytes(b"not code")
    try:
        # WHEN the app is synthesized again
        again = synthesize(tmp_path, select_environments("dev"))
    finally:
        junk.unlink()
    # THEN the asset hash is unchanged
    assert code_key(again, "dev") == code_key(synth, "dev")

"""A platform team installs the library from git and uses it in its own app, elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from local.synth import ROOT

APP = """
from aws_cdk import App, Stack
from cdk_app.config import ENVIRONMENTS
from stacks import EventPersistenceStack

app = App()
EventPersistenceStack(app, "acme-staging", config=ENVIRONMENTS["staging"], prefix="acme")
app.synth()
"""


def test_the_installed_library_synthesizes_an_app_outside_the_repo(tmp_path):
    # GIVEN the library built and installed (without its dependencies, which this venv has)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--target", str(site), str(ROOT)],
        check=True,
        capture_output=True,
    )
    assert (site / "kahula_lambdas" / "persister" / "handler.py").is_file()
    # WHEN an app outside the repository imports it
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP)
    env = {**os.environ, "PYTHONPATH": str(site), "CDK_OUTDIR": str(app_dir / "out")}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # THEN it synthesizes, with the persister's code as the asset and the library's names
    template = json.loads((app_dir / "out" / "acme-staging.template.json").read_text())
    function = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    )
    assert function["Properties"]["FunctionName"] == "acme-persister-staging"
    code_key = function["Properties"]["Code"]["S3Key"]
    (asset,) = (app_dir / "out").glob(f"asset.{code_key.removesuffix('.zip')}")
    assert (asset / "persister" / "handler.py").is_file()
    assert sorted(p.name for p in asset.iterdir()) == ["persister"]  # runtime code only

"""Cold start is a product feature: importing the handler must not pay for what it may not use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, sys
os.environ.update(POWERTOOLS_SERVICE_NAME="s", POWERTOOLS_METRICS_NAMESPACE="n")
import persister.handler
print(json.dumps({m: m in sys.modules for m in ("aws_xray_sdk", "boto3", "pydantic")}))
"""


def test_handler_import_loads_no_xray_sdk_no_boto3_and_no_pydantic():
    # GIVEN a fresh interpreter WHEN the handler module is imported
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT / "lambdas",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # THEN none of the expensive modules is loaded yet (boto3 waits for the first client)
    assert json.loads(out.strip().splitlines()[-1]) == {
        "aws_xray_sdk": False,
        "boto3": False,
        "pydantic": False,
    }

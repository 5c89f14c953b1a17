"""A platform team's app, built from the public API only: the README's example, executed."""

from __future__ import annotations

import json
import re

from local.synth import ROOT


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using the constructs in your own app", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_synthesizes(tmp_path):
    # GIVEN the README's example, run as a user would, outside this repo's stacks (and without
    # this repo's cdk.json feature flags)
    code = readme_example()
    assert code.count("app = App()") == 1
    code = code.replace("app = App()", f"app = App(outdir={str(tmp_path)!r})")
    # WHEN it runs
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    # THEN it yields a stack with the persister, its table and bus, named as asked
    template = json.loads((tmp_path / "AcmeEvents.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Events::EventBus", "AWS::DynamoDB::Table", "AWS::Lambda::Function"} <= types
    names = {
        r["Properties"].get("FunctionName")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert "acme-persister" in names

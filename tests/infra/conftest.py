"""Synthesize the real app (all three environments, cdk-nag on) once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from cdk_app.config import EnvironmentConfig, select_environments
from local.synth import synthesize as synth_app
from stacks import EventPersistenceStack

ENVS = ("dev", "staging", "prod")


@dataclass
class Synth:
    outdir: Path
    stacks: dict[str, EventPersistenceStack]
    templates: dict[str, Template]
    raw: dict[str, dict[str, Any]]

    def resources(self, env: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw[env]["Resources"].items() if v["Type"] == type_}


def synthesize(outdir: Path, configs: list[EnvironmentConfig]) -> Synth:
    assembly, stacks = synth_app(outdir, configs)  # raises on any unacknowledged cdk-nag finding
    by_env: dict[str, EventPersistenceStack] = {}
    raw: dict[str, dict[str, Any]] = {}
    for stack, config in zip(stacks, configs, strict=True):
        assert isinstance(stack, EventPersistenceStack)
        by_env[config.name] = stack
        raw[config.name] = assembly.get_stack_by_name(stack.stack_name).template
    templates = {env: Template.from_json(t) for env, t in raw.items()}
    return Synth(outdir, by_env, templates, raw)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"), select_environments(None))


@pytest.fixture(params=ENVS)
def env(request: pytest.FixtureRequest) -> str:
    return request.param


def only(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assert len(resources) == 1, f"expected one resource, got {list(resources)}"
    return next(iter(resources.values()))

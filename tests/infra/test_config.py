"""Typed per-environment configuration and environment selection."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kahula_core.spec import ContractPaths, FollowUpRule, SpecError

from cdk_app.config import (
    ENVIRONMENTS,
    ConfigError,
    EnvironmentConfig,
    select_environments,
    validate_prefix,
)
from cdk_app.constructs import (
    EventArchiveProps,
    EventBusProps,
    EventTableProps,
    FollowUpRoutingProps,
    PersisterProps,
)

ROOT = Path(__file__).resolve().parents[2]


def test_all_three_environments_by_default():
    assert [c.name for c in select_environments(None)] == ["dev", "staging", "prod"]


def test_one_environment_by_name_with_cli_defaults_for_account_and_region():
    (prod,) = select_environments(
        "prod", default_account="123456789012", default_region="eu-west-1"
    )
    assert (prod.name, prod.account, prod.region) == ("prod", "123456789012", "eu-west-1")


def test_account_in_config_wins_over_the_cli_default(monkeypatch):
    # GIVEN prod pinned to an account in the config
    pinned = dataclasses.replace(ENVIRONMENTS["prod"], account="999999999999")
    monkeypatch.setitem(ENVIRONMENTS, "prod", pinned)
    # WHEN the CLI's credentials name another account
    (prod,) = select_environments("prod", default_account="123456789012")
    # THEN the config's account is the one synthesized
    assert prod.account == "999999999999"


def test_unknown_environment_names_the_valid_ones():
    with pytest.raises(
        ConfigError, match="unknown environment 'qa': valid names are dev, staging, prod"
    ):
        select_environments("qa")


def test_app_exits_with_the_message_on_an_unknown_environment():
    # GIVEN `cdk synth -c env=qa` (the CLI passes context as CDK_CONTEXT_JSON)
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        check=False,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps({"env": "qa"})},
        capture_output=True,
        text=True,
    )
    # THEN it fails fast with the list of valid names, not a stack trace
    assert result.returncode == 1
    assert "error: unknown environment 'qa': valid names are dev, staging, prod" in result.stderr
    assert "Traceback" not in result.stderr


def test_app_exits_with_the_message_on_a_props_error(tmp_path):
    # GIVEN a copy of the app whose configuration gives the stream door impossible values
    for part in ("cdk_app", "stacks", "lambdas"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "app.py", tmp_path / "app.py")
    config = tmp_path / "cdk_app" / "config.py"
    text = config.read_text()
    assert "stream=StreamIngestProps(" in text
    config.write_text(
        text.replace("stream=StreamIngestProps(", "stream=StreamIngestProps(retry_attempts=-1, ", 1)
    )
    # WHEN `cdk synth` runs it
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=tmp_path,
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    # THEN one clean line names the class, the field and its limits; no stack trace
    assert result.returncode == 1
    assert result.stderr.startswith("error: StreamIngestProps: retry_attempts must be"), (
        result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: EventArchiveProps(buffer_mib=129), "buffer_mib must be an integer from 1 to 128"),
        (lambda: EventArchiveProps(buffer_seconds=901), "buffer_seconds must be an integer"),
        (lambda: PersisterProps(async_retry_attempts=3), "async_retry_attempts must be an integer"),
        (lambda: PersisterProps(log_retention_days=10), "log retention must be one of"),
        (lambda: EventBusProps(producer_account_ids=("123",)), "must be 12 digits"),
        (lambda: EventBusProps(producer_organization_id="org-1"), "o-xxxxxxxxxx"),
        (lambda: EventArchiveProps(glacier_after_days=10), "Infrequent Access before Glacier"),
        (lambda: FollowUpRoutingProps(max_receive_count=0), "max_receive_count"),
        (lambda: ContractPaths(max_inline_item_bytes=500_000), "409600-byte item limit"),
        (lambda: ContractPaths(event_id_path="detail..id"), "not a dotted path"),
        (
            lambda: PersisterProps(
                follow_up_rules=(FollowUpRule("Event", "AuditEvent"),),
            ),
            "a follow-up would yield a follow-up",
        ),
        (lambda: EnvironmentConfig(name="Prod"), "lowercase"),
    ],
)
def test_invalid_values_are_rejected_with_a_reason(make, fragment):
    with pytest.raises((ValueError, SpecError)) as caught:
        make()
    assert fragment in str(caught.value)


def test_prefix_must_be_dns_safe():
    assert validate_prefix("acme") == "acme"
    with pytest.raises(ConfigError, match="lowercase"):
        validate_prefix("Acme_Corp")


def test_data_is_retained_everywhere_but_dev():
    retained = {
        n: (c.table.retain, c.archive.retain, c.monitoring.retain, c.termination_protection)
        for n, c in ENVIRONMENTS.items()
    }
    assert retained == {
        "dev": (False, False, False, False),
        "staging": (True, True, True, True),
        "prod": (True, True, True, True),
    }


def test_props_default_to_the_production_choice():
    # GIVEN props built with no arguments (what a platform team gets from a bare call)
    table, archive, persister = EventTableProps(), EventArchiveProps(), PersisterProps()
    # THEN data is kept, and nothing is left out for cost unless asked
    assert (table.retain, archive.retain, persister.retain) == (True, True, True)
    assert archive.expire_after_days is None
    assert persister.contract == ContractPaths()


def test_every_config_field_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    classes = [EnvironmentConfig, EventBusProps, EventTableProps, PersisterProps]
    classes += [EventArchiveProps, FollowUpRoutingProps, ContractPaths]
    fields = [f.name for c in classes for f in dataclasses.fields(c)]
    missing = [name for name in fields if f"`{name}`" not in readme]
    assert missing == []


def test_config_objects_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ENVIRONMENTS["prod"].table.retain = False  # type: ignore[misc]
    assert isinstance(ENVIRONMENTS["prod"], EnvironmentConfig)


def test_the_readme_configuration_table_is_the_generated_one():
    from scripts.config_reference import README, block, current_block

    assert current_block(README.read_text()) == block(), "run `make docs`"

"""Typed per-environment configuration and environment selection."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_app.config import (
    ENVIRONMENTS,
    ConfigError,
    DataContract,
    EnvironmentConfig,
    select_environments,
    validate_prefix,
)

ROOT = Path(__file__).resolve().parents[2]


def test_all_three_environments_by_default():
    assert [c.name for c in select_environments(None)] == ["dev", "staging", "prod"]


def test_one_environment_by_name_with_cli_defaults_for_account_and_region():
    (prod,) = select_environments(
        "prod", default_account="123456789012", default_region="eu-west-1"
    )
    assert (prod.name, prod.account, prod.region) == ("prod", "123456789012", "eu-west-1")


def test_account_in_config_wins_over_the_cli_default():
    pinned = dataclasses.replace(ENVIRONMENTS["prod"], account="999999999999")
    assert pinned.account == "999999999999"


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


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"archive_buffer_mib": 129}, "archive_buffer_mib must be 1-128"),
        ({"archive_buffer_seconds": 901}, "archive_buffer_seconds must be 0-900"),
        ({"async_retry_attempts": 3}, "async_retry_attempts must be 0-2"),
        ({"log_retention_days": 10}, "log_retention_days must be one of"),
        ({"producer_account_ids": ("123",)}, "must be 12 digits"),
        ({"producer_organization_id": "org-1"}, "o-xxxxxxxxxx"),
        ({"archive_glacier_after_days": 10}, "Infrequent Access before Glacier"),
        ({"contract": DataContract(max_inline_item_bytes=500_000)}, "400 KB"),
    ],
)
def test_invalid_values_are_rejected_with_a_reason(change, fragment):
    with pytest.raises(ConfigError, match=None) as caught:
        dataclasses.replace(ENVIRONMENTS["dev"], **change)
    assert fragment in str(caught.value)


def test_prefix_must_be_dns_safe():
    assert validate_prefix("acme") == "acme"
    with pytest.raises(ConfigError, match="lowercase"):
        validate_prefix("Acme_Corp")


def test_data_is_retained_everywhere_but_dev():
    assert {n: c.retain_data for n, c in ENVIRONMENTS.items()} == {
        "dev": False,
        "staging": True,
        "prod": True,
    }


def test_every_config_field_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    fields = [f.name for f in dataclasses.fields(EnvironmentConfig)] + [
        f.name for f in dataclasses.fields(DataContract)
    ]
    missing = [name for name in fields if f"`{name}`" not in readme]
    assert missing == []


def test_config_objects_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ENVIRONMENTS["prod"].retain_data = False  # type: ignore[misc]


def test_the_readme_configuration_table_is_the_generated_one():
    from scripts.config_reference import README, block, current_block

    assert current_block(README.read_text()) == block(), "run `make docs`"

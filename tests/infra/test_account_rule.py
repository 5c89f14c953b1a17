"""One account per environment: staging and prod name theirs; credentials must match."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cdk_app.config import ConfigError, pin_accounts, select_environments

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = {
    "staging": {"account": "111111111111", "region": "eu-west-1"},
    "prod": {"account": "222222222222", "region": "eu-central-1"},
}
DEV_ACCOUNT = "333333333333"


def pinned(env=None, accounts=ACCOUNTS, caller=DEV_ACCOUNT, region="us-east-1"):
    configs = pin_accounts(
        select_environments(env), accounts, caller_account=caller, caller_region=region
    )
    return {c.name: (c.account, c.region) for c in configs}


def test_without_credentials_nothing_is_pinned_so_offline_synth_works():
    assert pinned(caller=None) == {
        "dev": (None, "us-east-1"),
        "staging": (None, "us-east-1"),
        "prod": (None, "us-east-1"),
    }


def test_with_credentials_each_environment_is_pinned_to_its_named_account():
    # GIVEN credentials for the dev account, synthesizing every environment
    # THEN dev takes the caller's account, staging and prod their named ones
    assert pinned() == {
        "dev": (DEV_ACCOUNT, "us-east-1"),
        "staging": ("111111111111", "eu-west-1"),
        "prod": ("222222222222", "eu-central-1"),
    }


def test_prod_with_its_own_accounts_credentials_is_pinned_there():
    assert pinned("prod", caller="222222222222") == {"prod": ("222222222222", "eu-central-1")}


def test_prod_with_another_accounts_credentials_is_refused():
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "refusing environment 'prod': the credentials are for account 333333333333, but "
            "prod is account 222222222222 (context accounts.prod in cdk.json); use "
            "credentials for 222222222222"
        ),
    ):
        pinned("prod")


def test_staging_without_a_named_account_is_refused_when_credentials_are_present():
    with pytest.raises(ConfigError, match="environment 'staging' must name its account and region"):
        pinned("staging", accounts={"prod": ACCOUNTS["prod"]})


def test_a_named_account_without_a_region_is_refused():
    with pytest.raises(ConfigError, match="'prod' must name its account and region"):
        pinned("prod", accounts={"prod": {"account": "222222222222"}}, caller="222222222222")


def test_dev_may_use_the_credentials_account():
    assert pinned("dev", accounts={}) == {"dev": (DEV_ACCOUNT, "us-east-1")}


def test_a_named_dev_account_is_checked_too():
    with pytest.raises(ConfigError, match="refusing environment 'dev'"):
        pinned("dev", accounts={"dev": {"account": "444444444444"}})


def test_a_malformed_named_account_is_rejected():
    bad = {**ACCOUNTS, "prod": {"account": "2222", "region": "eu-west-1"}}
    with pytest.raises(ConfigError, match="account must be 12 digits"):
        pinned("prod", accounts=bad, caller="2222")


def test_accounts_context_that_is_not_a_mapping_is_rejected():
    with pytest.raises(ConfigError, match="context 'accounts' must map environment names"):
        pinned(accounts="222222222222")


def test_the_app_refuses_prod_with_dev_credentials_with_the_message():
    # GIVEN `cdk deploy -c env=prod` run with credentials for another account
    context = {"env": "prod", "accounts": ACCOUNTS}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        check=False,
        env={
            **os.environ,
            "CDK_CONTEXT_JSON": json.dumps(context),
            "CDK_DEFAULT_ACCOUNT": DEV_ACCOUNT,
            "CDK_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
    )
    # THEN it stops before building anything, with the reason and no stack trace
    assert result.returncode == 1
    assert "error: refusing environment 'prod': the credentials are for account" in result.stderr
    assert "Traceback" not in result.stderr


def test_cdk_json_names_staging_and_prod():
    accounts = json.loads((ROOT / "cdk.json").read_text())["context"]["accounts"]
    assert set(accounts) == {"staging", "prod"}
    assert all(set(entry) == {"account", "region"} for entry in accounts.values())

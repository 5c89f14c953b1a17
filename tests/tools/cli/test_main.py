"""The CLI's shell: import cost, help, global options, exit codes, errors as sentences."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cdk_app.cli.context import Options, State, deployed_target
from cdk_app.cli.main import run
from cdk_app.cli.output import ExitCode, NotFoundError, Output

from .conftest import REGION


def test_importing_the_cli_loads_no_cdk():
    # GIVEN a fresh interpreter WHEN the CLI and every command are imported
    code = (
        "import sys, cdk_app.cli.main; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii', 'constructs')]; "
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    # THEN neither the CDK nor jsii was loaded
    assert result.returncode == 0, result.stdout + result.stderr


def test_help_lists_every_command_with_examples_and_exit_codes(capsys):
    # WHEN --help is asked for
    code = run(["--help"])
    # THEN it exits 0 and shows the commands, examples and what the exit codes mean
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    for command in ("get", "put", "redrive", "seed", "local"):
        assert f"\n  {command} " in out
    assert "Examples:" in out
    assert "3 target unreachable" in out


def test_an_unknown_option_is_a_usage_error(capsys):
    assert run(["--no-such-option"]) == ExitCode.USAGE
    assert "No such option" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["--json", "--no-such-option"], ["--json", "get"], ["--json", "query", "--limit", "x"]],
    ids=["a global option", "a missing argument", "a bad value"],
)
def test_with_json_a_usage_error_is_a_json_object_too(capsys, argv):
    # GIVEN --json and a command line Typer cannot parse
    assert run(argv) == ExitCode.USAGE
    # THEN stderr holds one JSON object with the reason and the exit code, stdout nothing
    captured = capsys.readouterr()
    assert captured.out == ""
    error = json.loads(captured.err)
    assert error["exit_code"] == ExitCode.USAGE
    assert "\n" not in error["error"]  # one sentence, not the usage text
    assert error["error"]


def test_the_environment_comes_from_kahula_env(monkeypatch):
    # GIVEN KAHULA_ENV=staging and no --env
    monkeypatch.setenv("KAHULA_ENV", "staging")
    seen: list[Options] = []

    def factory(options: Options):
        seen.append(options)
        raise NotFoundError("stop here")

    # WHEN a command resolves its target
    state = State(target_factory=factory, output=Output())
    run(["get", "x"], state=state)
    # THEN the target is stack kahula-staging
    assert seen[0].stack_name == "kahula-staging"


def test_a_stack_that_is_not_deployed_is_exit_3_with_a_sentence(aws):
    # GIVEN a region where kahula-qa does not exist
    import boto3

    session = boto3.session.Session(region_name=REGION)
    # WHEN the target is resolved THEN the error says what to do, not a botocore traceback
    try:
        deployed_target(Options(env="qa"), session=session)
    except Exception as exc:
        assert getattr(exc, "code", None) == ExitCode.UNREACHABLE
        assert "stack kahula-qa is not deployed in region eu-west-1" in str(exc)
    else:
        raise AssertionError("expected an error")


def test_no_credentials_is_exit_3_with_a_sentence(monkeypatch, capsys):
    # GIVEN no credentials anywhere
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # WHEN a command needs AWS
    code = run(["--region", REGION, "get", "x"])
    # THEN exit 3 and one sentence
    err = capsys.readouterr().err
    assert code == ExitCode.UNREACHABLE
    assert "no AWS credentials found" in err
    assert "Traceback" not in err


def test_the_follow_up_types_are_read_from_their_queue_outputs(deployed):
    target = deployed.target(Options())
    assert target.follow_up_types() == ["IndexableEvent", "ValidatableEvent"]
    assert {"validatable-dlq", "indexable-dlq", "failed", "conflicts"} <= set(
        target.operator_queues()
    )

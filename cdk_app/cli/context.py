"""The target every command works on: a deployed environment or the local pipeline.

``Target`` answers two questions for a command, the same way whatever the target: *which
client* (``target.client("dynamodb")``) and *which resource* (``target.table_name``,
``target.queue_url("failed")``...). Deployed, names come from the outputs of the stack
``{prefix}-{env}`` (``kahula.stack_outputs``) and clients from a boto3 session (``--profile``,
``--region``). Locally (``--local``), the outputs are the synthesized template's own, resolved
against the local moto server, and clients point at that server (``local/session.py``).

After publishing, a command calls ``target.settle()``: locally that routes what was published
through the pipeline (rules, the real handlers, follow-ups), deployed it does nothing (AWS does
it). Nothing here touches AWS or the environment at import.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import stack_outputs as so
from .output import CliError, Output, TargetUnreachableError, UsageError

DEFAULT_ENV = "dev"
DEFAULT_PREFIX = "kahula"  # the app's default resource-name prefix (cdk.json `prefix`)
ENV_VARIABLE = "KAHULA_ENV"

ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class Options:
    """The global options, as given (``kahula --env prod --profile ops ...``)."""

    env: str = DEFAULT_ENV
    prefix: str = DEFAULT_PREFIX
    profile: str | None = None
    region: str | None = None
    local: bool = False
    json: bool = False

    @property
    def stack_name(self) -> str:
        return f"{self.prefix}-{self.env}"


class LocalSession(Protocol):
    """What a target needs from the local pipeline's session (``local/session.py``)."""

    endpoint: str

    def client(self, service: str) -> Any: ...
    def outputs(self) -> dict[str, str]: ...
    def settle(self) -> None: ...
    def invoke_async(self, function_name: str, event: Any) -> None: ...
    def close(self) -> None: ...


class Target:
    """Clients and resource names of one environment, deployed or local."""

    def __init__(
        self,
        *,
        env: str,
        stack_name: str,
        outputs: Mapping[str, str],
        client_factory: ClientFactory,
        region: str | None = None,
        local: LocalSession | None = None,
    ) -> None:
        self.env = env
        self.stack_name = stack_name
        self.outputs = dict(outputs)
        self.region = region
        self.local = local
        self._client_factory = client_factory
        self._clients: dict[str, Any] = {}

    @property
    def is_local(self) -> bool:
        return self.local is not None

    @property
    def prefix(self) -> str:
        """The resource-name prefix (the stack is ``{prefix}-{env}``)."""
        return self.stack_name.removesuffix(f"-{self.env}")

    @property
    def where(self) -> str:
        """How to name this target in a sentence."""
        return f"the local pipeline ({self.env})" if self.local else f"stack {self.stack_name}"

    def client(self, service: str) -> Any:
        """One boto3 client per service, created on first use."""
        if service not in self._clients:
            self._clients[service] = self._client_factory(service)
        return self._clients[service]

    def settle(self) -> None:
        """Let the pipeline act on what was just published or sent: locally, route it through
        the rules and the real handlers (follow-ups too); deployed, AWS does it (no-op)."""
        if self.local is not None:
            self.local.settle()

    def close(self) -> None:
        if self.local is not None:
            self.local.close()

    def invoke_async(self, function_name: str, event: Any) -> None:
        """Hand ``event`` to a function as its rule would (asynchronous invocation: its
        retries and on-failure destination apply). Locally the real handler runs now."""
        if self.local is not None:
            self.local.invoke_async(function_name, event)
            return
        import json  # noqa: PLC0415

        self.client("lambda").invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps(event).encode("utf-8"),
        )

    # ------------------------------------------------------------------ names

    def output(self, key: str, what: str) -> str:
        """A stack output's value, or a sentence saying it is not there."""
        value = self.outputs.get(key)
        if not value:
            raise TargetUnreachableError(
                f"{self.where} has no output {key} ({what}): is it deployed in this "
                "environment, and is the stack up to date with this CLI?"
            )
        return value

    @property
    def bus_name(self) -> str:
        return self.output(so.EVENT_BUS_NAME, "the event bus")

    @property
    def bus_arn(self) -> str:
        return self.output(so.EVENT_BUS_ARN, "the event bus")

    @property
    def table_name(self) -> str:
        return self.output(so.EVENT_TABLE_NAME, "the events table")

    @property
    def archive_bucket(self) -> str:
        return self.output(so.ARCHIVE_BUCKET_NAME, "the archive bucket")

    @property
    def persister_function(self) -> str:
        return self.output(so.PERSISTER_FUNCTION_NAME, "the persister function")

    @property
    def archive_stream(self) -> str:
        return self.output(so.ARCHIVE_STREAM_NAME, "the archive's Firehose stream")

    @property
    def bus_archive_name(self) -> str:
        return self.output(so.EVENT_BUS_ARCHIVE_NAME, "the bus's replay archive")

    @property
    def ledger_table(self) -> str:
        return self.output(so.LEDGER_TABLE_NAME, "the FIFO door's tenant ledger")

    @property
    def ingest_queue_url(self) -> str:
        return self.output(so.INGEST_QUEUE_URL, "the FIFO door's queue")

    @property
    def stream_name(self) -> str:
        return self.output(so.STREAM_NAME, "the Kinesis door's stream")

    @property
    def api_url(self) -> str:
        return self.output(so.EVENT_API_URL, "the HTTP API")

    def follow_up_types(self) -> list[str]:
        """Follow-up detail types with a routed queue (``ValidatableEvent``...)."""
        suffix = so.follow_up_queue_url("")
        others = {so.INGEST_QUEUE_URL, *so.OPERATOR_QUEUES.values()}
        return sorted(
            k.removesuffix(suffix)
            for k in self.outputs
            if k.endswith(suffix) and k not in others and not k.endswith("DeadLetterQueueUrl")
        )

    def operator_queues(self) -> dict[str, str]:
        """Short name -> output key of every operator queue this target has."""
        keys = dict(so.OPERATOR_QUEUES)
        for detail_type in self.follow_up_types():
            keys[so.consumer_dlq_name(detail_type)] = so.consumer_dlq_url(detail_type)
        return {name: key for name, key in keys.items() if self.outputs.get(key)}

    def queue_url(self, name: str) -> str:
        """An operator queue's URL by its short name (``failed``, ``conflicts``...)."""
        queues = self.operator_queues()
        if name not in queues:
            known = ", ".join(sorted(queues)) or "none"
            raise UsageError(f"no queue {name!r} in {self.where}; its queues: {known}")
        return self.outputs[queues[name]]


# ---------------------------------------------------------------------- resolving a target


def deployed_target(options: Options, *, session: Any = None) -> Target:
    """The deployed stack's outputs, read with the options' profile and region."""
    if session is None:
        import boto3  # noqa: PLC0415 - boto3 loads only when a command needs AWS

        try:
            session = boto3.session.Session(
                profile_name=options.profile, region_name=options.region
            )
        except Exception as exc:
            raise translate(exc) or exc from None
    cloudformation = session.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=options.stack_name)["Stacks"]
    except Exception as exc:
        if "does not exist" in str(exc):
            raise TargetUnreachableError(
                f"stack {options.stack_name} is not deployed in region "
                f"{session.region_name or '(none)'}: deploy it (make deploy ENV={options.env}), "
                "or choose another --env, --region or --profile"
            ) from None
        raise translate(exc) or exc from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return Target(
        env=options.env,
        stack_name=options.stack_name,
        outputs=outputs,
        client_factory=session.client,
        region=session.region_name,
    )


def local_target(options: Options, *, state_dir: Path | None = None) -> Target:
    """The local pipeline's session (started on demand; ``kahula local down`` stops it)."""
    session_module = import_local("session")
    try:
        session = session_module.LocalSession.open(
            env=options.env,
            prefix=options.prefix,
            state_dir=state_dir or session_module.STATE_DIR,
            announce=lambda line: print(line, file=sys.stderr),
        )
    except (session_module.LocalSessionError, RuntimeError) as exc:
        raise TargetUnreachableError(f"the local session: {exc}") from None
    return Target(
        env=options.env,
        stack_name=options.stack_name,
        outputs=session.outputs(),
        client_factory=session.client,
        region=session.region,
        local=session,
    )


def import_local(name: str) -> Any:
    """``local.<name>`` from the checkout: the local pipeline is not installed with the CLI."""
    try:
        return importlib.import_module(f"local.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("local", f"local.{name}"):
            raise
    checkout = Path.cwd()
    if (checkout / "local" / f"{name}.py").is_file():
        sys.path.insert(0, str(checkout))
        return importlib.import_module(f"local.{name}")
    raise UsageError(
        "--local needs a checkout of the repository (the local pipeline, local/, is not "
        "installed): run the command from the checkout's root, e.g. "
        "`python -m cdk_app.cli --local ...`"
    )


def resolve_target(options: Options) -> Target:
    return local_target(options) if options.local else deployed_target(options)


def env_default() -> str:
    return os.environ.get(ENV_VARIABLE) or DEFAULT_ENV


# ---------------------------------------------------------------------- the command's state


@dataclass
class State:
    """What the global options set up for a command (Typer's ``ctx.obj``). Tests pass their
    own ``target_factory`` (a Target on moto clients) and ``output``."""

    options: Options = field(default_factory=Options)
    target_factory: Callable[[Options], Target] = resolve_target
    output: Output | None = None
    _target: Target | None = None

    @classmethod
    def of(cls, ctx: Any) -> State:
        """The state the global options set up (``ctx`` is the command's Typer context)."""
        state = ctx.find_object(cls)
        return state if state is not None else ctx.ensure_object(cls)

    @property
    def out(self) -> Output:
        if self.output is None:
            self.output = Output(json_mode=self.options.json)
        return self.output

    def target(self) -> Target:
        if self._target is None:
            self._target = self.target_factory(self.options)
        return self._target

    def close(self) -> None:
        if self._target is not None:
            self._target.close()


# ---------------------------------------------------------------------- AWS errors as sentences


def translate(exc: BaseException) -> CliError | None:
    """A botocore failure as one sentence and an exit code (None: not an AWS failure)."""
    try:
        from botocore import exceptions as bx  # noqa: PLC0415
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return None
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return TargetUnreachableError(
            "no AWS credentials found: pass --profile, set AWS_PROFILE, or sign in "
            "(aws sso login); or use --local for the local pipeline"
        )
    if isinstance(exc, bx.ProfileNotFound):
        return TargetUnreachableError(f"{exc}: check --profile / AWS_PROFILE (~/.aws/config)")
    if isinstance(exc, bx.NoRegionError):
        return UsageError("no AWS region: pass --region or set AWS_REGION")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return TargetUnreachableError(f"cannot reach AWS: {exc}")
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOError):
        return TargetUnreachableError(f"the AWS sign-in has expired or failed: {exc}")
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        operation = getattr(exc, "operation_name", "the request")
        message = f"AWS refused {operation}: {code}: {error.get('Message', '')}".rstrip(": ")
        denied = code in (
            "AccessDenied",
            "AccessDeniedException",
            "ExpiredToken",
            "ExpiredTokenException",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "InvalidSignatureException",
        )
        return TargetUnreachableError(message) if denied else CliError(message)
    if isinstance(exc, bx.BotoCoreError):
        return CliError(f"AWS call failed: {exc}")
    return None


@contextlib.contextmanager
def aws_errors() -> Iterator[None]:
    """Re-raise botocore failures as ``CliError`` sentences."""
    try:
        yield
    except CliError:
        raise
    except Exception as exc:
        translated = translate(exc)
        if translated is None:
            raise
        raise translated from None

"""The local pipeline as a session that outlives one command: what ``kahula --local`` runs on.

``kahula local up`` (or the first ``--local`` command, on demand) synthesizes the stack once into
``.kahula-local/cdk.out``, starts moto's server in the background, provisions what the template
declares, and records the server's pid and endpoint in ``.kahula-local/session.json``. Every
later ``--local`` command *attaches*: it reads the synthesized template (no CDK, no synth),
looks up the queues and the rules' route queues on the server, and, when it settles, runs the
real handlers in its own process, exactly as ``make demo`` does. The outbox pipes' and the
Kinesis mappings' positions are saved in the session file after each command, so the next one
continues where this one stopped. ``kahula local down`` stops the server, and moto's state
(it is in memory) goes with it.

One session at a time, for one environment; two commands attached at once are not supported.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .moto_server import start_detached, stop_detached
from .pipeline import REGION, LocalPipeline, _client, local_clients
from .provision import existing_queues, existing_routes, provision
from .synth import ROOT
from .topology import Topology, UnsupportedTemplate

STATE_DIR = ROOT / ".kahula-local"
SESSION_FILE = "session.json"


class LocalSessionError(RuntimeError):
    """The local session cannot be used as asked; the message says what to do."""


@dataclass
class SessionRecord:
    """What ``session.json`` holds: the running server and where each reader stopped."""

    env: str
    prefix: str
    pid: int
    endpoint: str
    stack_name: str
    assembly_dir: str
    started_at: str
    #: "pipe:<logical id>" or "kinesis:<stream>" -> shard -> last sequence number read
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / SESSION_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def read_record(state_dir: Path = STATE_DIR) -> SessionRecord | None:
    path = state_dir / SESSION_FILE
    if not path.is_file():
        return None
    try:
        return SessionRecord(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise LocalSessionError(
            f"{path} is unreadable ({exc}): remove it and stop its server by hand"
        ) from None


def alive(record: SessionRecord) -> bool:
    """Is the recorded server running and answering?"""
    try:
        os.kill(record.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        with urllib.request.urlopen(f"{record.endpoint}/moto-api/", timeout=2):  # noqa: S310
            return True
    except OSError:
        return False


def status(state_dir: Path = STATE_DIR) -> SessionRecord | None:
    """The running session, or None (a record whose server is gone is removed)."""
    record = read_record(state_dir)
    if record is not None and not alive(record):
        (state_dir / SESSION_FILE).unlink(missing_ok=True)
        return None
    return record


def up(
    *,
    env: str = "dev",
    prefix: str = "kahula",
    state_dir: Path = STATE_DIR,
    announce: Callable[[str], None] = lambda _: None,
) -> tuple[SessionRecord, bool]:
    """The running session for ``env``, started if there is none; (record, started now)."""
    record = status(state_dir)
    if record is not None:
        if (record.env, record.prefix) != (env, prefix):
            raise LocalSessionError(
                f"the local session runs {record.stack_name}, not {prefix}-{env}: stop it "
                "first (kahula local down)"
            )
        return record, False
    from cdk_app.config import select_environments  # noqa: PLC0415 - synthesis needs the CDK

    from .synth import synthesize  # noqa: PLC0415

    assembly_dir = state_dir / "cdk.out"
    state_dir.mkdir(parents=True, exist_ok=True)
    announce(f"synthesizing {prefix}-{env} into {assembly_dir} (once per session)")
    (config,) = select_environments(env)
    _, (stack,) = synthesize(assembly_dir, [config], prefix=prefix)
    pid, endpoint = start_detached(state_dir / "moto.log")
    record = SessionRecord(
        env=env,
        prefix=prefix,
        pid=pid,
        endpoint=endpoint,
        stack_name=stack.stack_name,
        assembly_dir=str(assembly_dir),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    try:
        topology = Topology.from_assembly(assembly_dir, record.stack_name, REGION)
        provision(topology, local_clients(endpoint))
    except Exception:
        stop_detached(pid)
        raise
    record.save(state_dir)
    announce(f"local session started: moto on {endpoint} (pid {pid}); `kahula local down` stops it")
    return record, True


def down(state_dir: Path = STATE_DIR) -> SessionRecord | None:
    """Stop the session's server (by its recorded pid) and forget it; None if none ran."""
    record = read_record(state_dir)
    if record is None:
        return None
    stop_detached(record.pid)
    (state_dir / SESSION_FILE).unlink(missing_ok=True)
    return record


class LocalSession:
    """One command's attachment to the running session (see the module's docstring)."""

    region = REGION

    def __init__(
        self, record: SessionRecord, state_dir: Path = STATE_DIR, *, names: Any = None
    ) -> None:
        self.record = record
        self.names = names  # the stack's Naming, for the demo's accounting (needs the CDK)
        self.state_dir = state_dir
        self.endpoint = record.endpoint
        self.clients = local_clients(record.endpoint)
        self.topology = Topology.from_assembly(Path(record.assembly_dir), record.stack_name, REGION)
        existing_queues(self.topology, self.clients)
        self._pipeline: LocalPipeline | None = None
        self._log: TextIO | None = None
        self._saved_environment = dict(os.environ)

    @classmethod
    def open(
        cls,
        *,
        env: str = "dev",
        prefix: str = "kahula",
        state_dir: Path = STATE_DIR,
        announce: Callable[[str], None] = lambda _: None,
    ) -> LocalSession:
        """Attach to the session for ``env``, starting it first if none runs."""
        record, _ = up(env=env, prefix=prefix, state_dir=state_dir, announce=announce)
        return cls(record, state_dir)

    def client(self, service: str) -> Any:
        return _client(service, self.endpoint)

    def outputs(self) -> dict[str, str]:
        """The template's outputs, resolved against the local resources (what the deployed
        stack's outputs are in AWS); an output the local pipeline cannot resolve is left out."""
        out = {}
        for key, output in self.topology.template.get("Outputs", {}).items():
            with contextlib.suppress(UnsupportedTemplate, KeyError):
                out[key] = str(self.topology.resolve(output["Value"]))
        return out

    @property
    def pipeline(self) -> LocalPipeline:
        """The template's functions, rules, pipes and doors over the running server."""
        if self._pipeline is None:
            self._log = (self.state_dir / "handlers.log").open("a")
            pipeline = LocalPipeline.connect(
                self.topology,
                self.endpoint,
                self.clients,
                existing_routes(self.topology, self.clients),
                names=self.names,
                log=self._log,
            )
            if pipeline.pipes is not None:
                for pipe in pipeline.pipes.pipes:
                    pipe.positions.update(
                        self.record.positions.get(f"pipe:{pipe.spec.logical_id}", {})
                    )
            for mapping in pipeline.stream_mappings:
                mapping.checkpoints.update(
                    self.record.positions.get(f"kinesis:{mapping.stream_name}", {})
                )
            self._pipeline = pipeline
        return self._pipeline

    def settle(self) -> None:
        """Deliver what was published or sent: poll the FIFO doors, then route the bus's
        rules (and the follow-ups, pipes and streams) until every queue is idle."""
        pipeline = self.pipeline
        for door in pipeline.fifo:
            door.poll()
        pipeline.run()

    def invoke_async(self, function_name: str, event: Any) -> None:
        """Lambda's asynchronous invocation of the template's function ``function_name``:
        the real handler, its retries, then its on-failure destination."""
        functions = {f.name: f for f in self.pipeline.bridge.lambdas.values()}
        if function_name not in functions:
            raise LocalSessionError(f"the local stack has no function {function_name}")
        functions[function_name].invoke_async(event)

    def close(self) -> None:
        """Save the readers' positions for the next command; put the environment back (the
        handlers ran with their template environment)."""
        if self._pipeline is not None:
            positions = dict(self.record.positions)
            if self._pipeline.pipes is not None:
                for pipe in self._pipeline.pipes.pipes:
                    positions[f"pipe:{pipe.spec.logical_id}"] = dict(pipe.positions)
            for mapping in self._pipeline.stream_mappings:
                positions[f"kinesis:{mapping.stream_name}"] = dict(mapping.checkpoints)
            self.record.positions = positions
            if (self.state_dir / SESSION_FILE).is_file():
                self.record.save(self.state_dir)
            self._pipeline = None
        if self._log is not None:
            self._log.close()
            self._log = None
        os.environ.clear()
        os.environ.update(self._saved_environment)

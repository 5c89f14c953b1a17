"""moto's server on 127.0.0.1, in a child process that always stops.

Run as ``python -m local.moto_server PORT`` it starts moto's server with one fidelity patch:
Firehose's S3 delivery applies what the stream declares (AppendDelimiterToRecord, GZIP, the
``!{timestamp:...}`` prefix namespaces and the file extension). Plain moto would concatenate
records without delimiters, uncompressed, under the literal prefix text. One PutRecordBatch is
one object: the local stream does not buffer for 128 MiB / 900 s.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gzip
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

# Java DateTimeFormatter patterns Firehose uses in !{timestamp:...}, as strftime.
_TIMESTAMP_PATTERNS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def expand_prefix(prefix: str, now: datetime) -> str:
    """Firehose's !{timestamp:PATTERN} namespaces, evaluated in UTC."""
    out = prefix
    for pattern, directive in _TIMESTAMP_PATTERNS.items():
        out = out.replace(f"!{{timestamp:{pattern}}}", now.strftime(directive))
    if "!{" in out:
        raise ValueError(f"unsupported Firehose prefix namespace in {prefix!r}")
    return out


def deliver_to_s3(
    destination: dict[str, Any], stream_name: str, records: list[bytes], now: datetime
) -> tuple[str, bytes]:
    """The object key and body Firehose would write for one batch of records."""
    processors = destination.get("ProcessingConfiguration", {})
    body_parts = list(records)
    if processors.get("Enabled"):
        for processor in processors.get("Processors", []):
            if processor["Type"] != "AppendDelimiterToRecord":
                raise ValueError(f"processor {processor['Type']} is not simulated locally")
            body_parts = [r + b"\n" for r in body_parts]
    body = b"".join(body_parts)
    if destination.get("CompressionFormat", "UNCOMPRESSED") == "GZIP":
        body = gzip.compress(body, mtime=0)
    key = (
        expand_prefix(destination.get("Prefix", ""), now)
        + f"{stream_name}-1-{now.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4()}"
        + destination.get("FileExtension", "")
    )
    return key, body


def _patch_firehose() -> None:
    from moto.firehose.models import FirehoseBackend  # noqa: PLC0415
    from moto.s3.models import s3_backends  # noqa: PLC0415

    def put_s3_records(
        self: Any,
        delivery_stream_name: str,
        version_id: str,
        s3_destination: dict[str, Any],
        records: list[dict[str, bytes]],
    ) -> list[dict[str, str]]:
        key, body = deliver_to_s3(
            s3_destination,
            delivery_stream_name,
            [r["Data"] for r in records],
            datetime.now(UTC),
        )
        bucket = s3_destination["BucketARN"].split(":")[-1]
        s3_backends[self.account_id][self.partition].put_object(bucket, key, body)
        return [{"RecordId": str(uuid.uuid4())} for _ in records]

    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign]


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the parent dies, whatever
    killed the parent (even SIGKILL, which skips every cleanup)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(timeout_seconds: float = 30.0) -> Iterator[str]:
    """Start the patched moto server on a free loopback port; yield its endpoint URL.

    The child runs in its own process group and is terminated (then killed) on exit, on an
    exception and on Ctrl-C, so no server outlives the command.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local.moto_server", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - a single libc call, no locks taken
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, endpoint, timeout_seconds)
        yield endpoint
    finally:
        _stop(process)


def wait_ready(process: subprocess.Popen[bytes], endpoint: str, timeout_seconds: float) -> None:
    """Until the server answers on ``endpoint`` (or exits, or the time is up: RuntimeError)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server did not answer on {endpoint}") from None
            time.sleep(0.1)


def start_detached(log: Path, timeout_seconds: float = 30.0) -> tuple[int, str]:
    """Start the patched server in its own session that outlives this process (the local
    session of ``kahula local up``); returns its pid and endpoint once it answers. Whoever
    starts it records the pid and stops it with ``stop_detached``."""
    port = free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.moto_server", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, endpoint, timeout_seconds)
    except RuntimeError:
        _stop(process)
        raise
    return process.pid, endpoint


def stop_detached(pid: int) -> None:
    """Stop a server ``start_detached`` started (its own process group), by its pid."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            with contextlib.suppress(ChildProcessError):  # reap it if this process started it
                os.waitpid(pid, os.WNOHANG)
            os.kill(pid, 0)
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main(argv: list[str]) -> None:
    _patch_firehose()
    from moto.server import main as moto_main  # noqa: PLC0415

    moto_main(["-H", "127.0.0.1", "-p", argv[0]])


if __name__ == "__main__":
    main(sys.argv[1:])

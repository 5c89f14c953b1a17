"""AWS clients, created on first use and reused for the life of the container."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

#: service name -> a zero-argument callable that returns that service's client.
ClientFactory = Callable[[str], Callable[[], Any]]


def boto3_clients(service: str) -> Callable[[], Any]:
    """A lazy, cached boto3 client: boto3 is imported only when a client is first needed."""

    @functools.cache
    def create() -> Any:
        import boto3  # noqa: PLC0415 - deferred: cold start pays only for clients it uses
        from botocore.config import Config  # noqa: PLC0415

        config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=2,
            read_timeout=10,
        )
        return boto3.client(service, config=config)  # type: ignore[call-overload]

    return create

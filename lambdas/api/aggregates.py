"""What the aggregate store's two routes share: the container's store client, the version as
an ETag, the stream's paths, JSON for stored values, and how the store's errors answer.

Both functions call ``kahula_core.aggregates``' client (:class:`AggregateStore`): the append is
the client's one ``append``, never a second implementation. Every error the client raises is an
``AggregateStoreError``; :func:`add_store_errors` maps each kind to one status of the API's one
error shape (:mod:`api.responses`).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from kahula_core import spec
from kahula_core.aggregates import (
    AggregateStoreError,
    AppendTooLargeError,
    ConcurrencyError,
    InvalidEventError,
    RetryableStoreError,
    StoreThrottledError,
    TooManyEventsError,
    TransactionInterferenceError,
)
from kahula_core.aggregates.client import AggregateStore
from kahula_core.clients import ClientFactory, boto3_clients

from api import responses as r
from api.resolver import request_id

_store: AggregateStore | None = None
_THROTTLED = "the aggregate store is throttling; nothing was written, retry the same request"
_INTERFERED = (
    "another transaction touched this aggregate at the same moment; nothing was written, "
    "retry the same request"
)
_UNAVAILABLE = (
    "the aggregate store is unavailable; retry the same request (an append that was in fact "
    "committed is recognised as done)"
)


def aggregate_store(
    environ: Mapping[str, str] | None = None, client_factory: ClientFactory = boto3_clients
) -> AggregateStore:
    """The container's client of the aggregate store, built on first use (boto3 lazily)."""
    global _store  # noqa: PLW0603 - one per container, by design
    if _store is None:
        environ = os.environ if environ is None else environ
        _store = AggregateStore(
            table_name=environ[spec.AGGREGATE_TABLE_ENV],
            dynamodb=client_factory("dynamodb"),
            date_bucket_shards=int(environ.get(spec.AGGREGATE_SHARDS_ENV) or 1),
            metrics_namespace=environ.get(spec.AGGREGATE_METRICS_NAMESPACE_ENV) or None,
        )
    return _store


def use_store(replacement: AggregateStore | None) -> None:
    """Inject the client (tests, the local server); None rebuilds it on next use."""
    global _store  # noqa: PLW0603
    _store = replacement


def etag(version: int) -> str:
    """The aggregate's version as a strong entity tag: what ``If-Match`` sends back."""
    return f'"{version}"'


def events_path(aggregate_id: str, **query: int) -> str:
    path = f"/aggregates/{quote(aggregate_id, safe='')}/events"
    return f"{path}?{urlencode(query)}" if query else path


def jsonable(value: Any) -> Any:
    """A stored value as JSON: exact integers stay integers, other numbers become JSON numbers
    (doubles), bytes base64 text, sets sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=repr)
    return value


def add_store_errors(app: APIGatewayRestResolver, router: APIGatewayRouter, logger: Logger) -> None:
    """Answer every ``AggregateStoreError`` the client raises with its status."""

    @app.exception_handler(AggregateStoreError)
    def on_store_error(exc: AggregateStoreError) -> Response:
        rid = request_id(router)
        if isinstance(exc, ConcurrencyError):
            return conflict(exc, rid)
        if isinstance(exc, TooManyEventsError | AppendTooLargeError):
            return r.error(413, "payload_too_large", str(exc), rid)
        if isinstance(exc, InvalidEventError):
            return r.error(400, "malformed_event", str(exc), rid)
        # Retryable: the client is told what to do, the log keeps DynamoDB's own words.
        if isinstance(exc, StoreThrottledError):
            logger.warning("throttled", extra={"reason": str(exc)})
            return r.retry_later(429, "throttled", _THROTTLED, rid)
        if isinstance(exc, TransactionInterferenceError):
            logger.warning("transaction cancelled", extra={"reason": str(exc)})
            return r.retry_later(503, "unavailable", _INTERFERED, rid)
        if isinstance(exc, RetryableStoreError):
            logger.warning("store unavailable", extra={"reason": str(exc)})
            return r.retry_later(503, "unavailable", _UNAVAILABLE, rid)
        logger.exception("aggregate store refused the call")
        return r.internal(rid)


def conflict(exc: ConcurrencyError, rid: str) -> Response:
    """412: the aggregate is not at the If-Match version; nothing was written."""
    return r.error(
        412,
        "precondition_failed",
        f"aggregate {exc.aggregate_id!r} is at version {exc.actual}, not the If-Match version "
        f"{exc.expected}: another writer appended first; nothing was written. Read the stream "
        "from your version, decide again, and append with If-Match set to the new ETag",
        rid,
        headers={"ETag": etag(exc.actual)},
        expected_version=exc.expected,
        actual_version=exc.actual,
    )

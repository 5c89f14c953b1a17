"""What every API function's resolver does alike: route, and answer what the route did not.

Each function (``api.writer``, ``api.reader``, ``api.aggregate_writer``,
``api.aggregate_reader``) builds its resolver here, so an unknown route, a throttled or failed
AWS call, an unreachable dependency and an unexpected error get the same answer (the one error
shape of :mod:`api.responses`) from all of them. A function adds handlers of its own after.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from botocore.exceptions import BotoCoreError, ClientError
from kahula_core.reader import ClaimCheckUnavailableError

from api import responses as r

#: AWS error codes that mean "throttled": the client may retry after Retry-After.
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
        "Throttling",
    }
)


def request_id(router: APIGatewayRouter) -> str:
    """API Gateway's request id (the client's ``x-amzn-RequestId``) of the current request."""
    return str(router.current_event.request_context.request_id or "unknown")


def header(router: APIGatewayRouter, name: str) -> str | None:
    """A request header, whatever its case (API Gateway passes the client's spelling)."""
    headers = router.current_event.headers or {}
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def resolver(router: APIGatewayRouter, *, logger: Logger, doing: str) -> APIGatewayRestResolver:
    """A resolver with ``router``'s routes and the shared error answers.

    ``doing`` names what the function asks of the store in the 429 message ("writes").
    """
    app = APIGatewayRestResolver()
    app.include_router(router)

    @app.not_found
    def not_found(_: Exception) -> Response:
        return r.error(404, "not_found", "no such route", request_id(router))

    @app.exception_handler(ClientError)
    def on_aws_error(exc: ClientError) -> Response:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLING_CODES:
            logger.warning("throttled", extra={"code": code})
            return r.retry_later(
                429, "throttled", f"the store is throttling {doing}; retry", request_id(router)
            )
        if status >= 500 or code in {"InternalServerError", "ServiceUnavailable"}:
            logger.warning("dependency unavailable", extra={"code": code})
            return r.retry_later(
                503, "unavailable", "a dependency is unavailable; retry", request_id(router)
            )
        logger.exception("AWS call failed")
        return r.internal(request_id(router))

    @app.exception_handler(BotoCoreError)
    def on_connection_error(exc: BotoCoreError) -> Response:
        logger.warning("dependency unreachable", extra={"reason": str(exc)})
        return r.retry_later(
            503, "unavailable", "a dependency is unreachable; retry", request_id(router)
        )

    @app.exception_handler(ClaimCheckUnavailableError)
    def on_lost_detail(exc: ClaimCheckUnavailableError) -> Response:
        # Not a transient failure (no Retry-After) and not the caller's fault: the item exists
        # but its detail in S3 is gone or damaged. Logged as ERROR for the function's alarm.
        logger.error("claim-checked detail unavailable", extra={"reason": str(exc)})
        return r.error(
            500,
            "detail_unavailable",
            "the event is stored but its detail cannot be read; an operator has been alerted",
            request_id(router),
        )

    @app.exception_handler(Exception)
    def on_error(_: Exception) -> Response:
        logger.exception("unexpected error")
        return r.internal(request_id(router))

    return app

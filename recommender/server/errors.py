"""Errors as 4xx JSON, and the two guards every request passes: the token and the upload limit.

Every error body is ``{"error": message, "reason": code, "type": class, "types": [class, ...bases]}``:
``error`` and ``reason`` are what ``undertone search --json`` prints for a failed query, and ``types``
lets :class:`recommender.client.Client` raise the same exception class. Unexpected exceptions become a
500 with no traceback in the body (the traceback goes to the server log).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommender import errors

logger = logging.getLogger(__name__)

TOO_LARGE_FLAG = "undertone.body_too_large"


class UnsupportedMediaError(errors.UsageError):
    """A request body of a type the endpoint does not read (not a form upload)."""


class MalformedRequestError(errors.UsageError):
    """A body that cannot be parsed (a broken multipart upload, invalid JSON)."""


class IngestBusyError(errors.StoreBusyError):
    """An ingestion job is already running in this server."""


# First match wins: subclasses before their bases.
_STATUS: tuple[tuple[type[errors.UndertoneError], int], ...] = (
    (errors.AuthenticationError, 401),
    (errors.UploadTooLargeError, 413),
    (UnsupportedMediaError, 415),
    (errors.CorruptAudioError, 415),
    (errors.NotFoundError, 404),
    (errors.EmptyCatalogError, 409),
    (errors.ModelMismatchError, 409),
    (errors.StoreBusyError, 409),
    (errors.DimensionMismatchError, 409),
    (errors.StoreError, 503),
    (errors.ServiceError, 502),
)


def status_of(error: errors.UndertoneError) -> int:
    """The HTTP status of a user error: 422 unless a more telling one applies."""
    return next((status for cls, status in _STATUS if isinstance(error, cls)), 422)


def error_body(error: BaseException, message: str | None = None) -> dict[str, Any]:
    types = [cls.__name__ for cls in type(error).__mro__ if issubclass(cls, errors.UndertoneError)]
    return {"error": message or str(error), "reason": errors.error_reason(error), "type": type(error).__name__, "types": types}


def error_response(error: errors.UndertoneError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(error), status_code=status_of(error), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """User errors -> their 4xx; FastAPI's own validation and HTTP errors in the same JSON shape."""

    @app.exception_handler(errors.UndertoneError)
    async def undertone_error(request: Request, error: errors.UndertoneError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc'][1:]) or 'body'}: {item['msg']}" for item in error.errors())
        return error_response(errors.UsageError(f"invalid request: {problems}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if request.scope.get(TOO_LARGE_FLAG):  # FastAPI reports any failure to read the body as a 400
            return error_response(_too_large(request.scope[TOO_LARGE_FLAG]))
        if error.status_code == 404:
            return error_response(errors.NotFoundError(f"no such endpoint: {request.method} {request.url.path} (see /docs)"))
        if error.status_code == 400:
            return error_response(MalformedRequestError(f"malformed request body: {error.detail}"))
        body = error_body(errors.UsageError(str(error.detail)))
        return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected error in %s %s", request.method, request.url.path, exc_info=error)
        failure = errors.ServiceError(f"unexpected server error ({type(error).__name__}); details are in the server log")
        return JSONResponse(error_body(failure), status_code=500)


def _too_large(limit: int) -> errors.UploadTooLargeError:
    return errors.UploadTooLargeError(f"request body larger than the server's limit of {limit / 1e6:g} MB (UNDERTONE_MAX_UPLOAD_MB)")


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` while they stream in (413), whatever Content-Length claims.

    A declared length over the limit is refused before anything is read; a body that grows past it is cut
    off at the limit, so the server never buffers more than ``max_bytes`` of one request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(_too_large(self.max_bytes), {"Connection": "close"})(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    scope[TOO_LARGE_FLAG] = self.max_bytes
                    raise _BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _BodyTooLarge:
            if not started:
                await error_response(_too_large(self.max_bytes), {"Connection": "close"})(scope, receive, send)


class TokenMiddleware:
    """Every request must carry ``Authorization: Bearer <token>`` (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, credential = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(credential.strip(), self.token):
                failure = errors.AuthenticationError("this server needs a token: send 'Authorization: Bearer <token>' (UNDERTONE_TOKEN)")
                await error_response(failure, {"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        await self.app(scope, receive, send)

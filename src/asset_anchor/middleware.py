"""The outer layers of every request: CORS, then id, limits, headers, errors.

``CorsMiddleware`` is the outermost, so that every answer, those made by
``RequestContextMiddleware`` when everything inside it failed included,
carries the headers a browser needs to read it. Both are plain ASGI rather
than ``BaseHTTPMiddleware`` so that they add no task hop per request, can read
the body as it streams, and can still answer when everything inside failed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Collection, Iterable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asset_anchor.db import classify_database_error
from asset_anchor.errors import (
    PROBLEM_JSON,
    AppError,
    BadRequest,
    InternalError,
    PayloadTooLarge,
    problem_body,
)
from asset_anchor.logging import bound, get_logger

log = get_logger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# ASCII digits only: str.isdigit() also takes "²", which int() refuses.
_CONTENT_LENGTH = re.compile(r"[0-9]+")
# More digits than this is more than any limit (and int() refuses thousands).
_MAX_LENGTH_DIGITS = 18
_DOCS_PATHS = ("/docs", "/redoc")

_BASE_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


def request_id_for(header_value: str | None) -> str:
    """Keep a caller's sane request id; otherwise make a new one."""
    if header_value and _SANE_REQUEST_ID.match(header_value):
        return header_value
    return uuid.uuid4().hex


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class InvalidContentLength(BadRequest):
    code = "invalid_content_length"
    title = "The Content-Length header is not a number of bytes"


class CorsRefused(BadRequest):
    code = "cors_refused"
    title = "This cross-origin request is not allowed"


class _BodyTooLarge(Exception):
    pass


class _BadContentLength(Exception):
    pass


def response_headers(
    path: str, request_id: str, *, hsts: bool
) -> list[tuple[bytes, bytes]]:
    """The request id and security headers every answer carries."""
    headers = [
        (REQUEST_ID_HEADER.encode(), request_id.encode()),
        *_BASE_SECURITY_HEADERS,
    ]
    if not path.startswith(_DOCS_PATHS):
        headers.append(_API_CSP)
        headers.append((b"cache-control", b"no-store"))
    if hsts:
        headers.append(_HSTS)
    return headers


class RequestContextMiddleware:
    """Request id, body size limit, security headers, access log, last resort.

    - Binds the request id to every log line and echoes it as ``X-Request-ID``.
    - Refuses a body over ``max_body_bytes`` with 413 before the app reads it:
      by ``Content-Length`` when given, otherwise by buffering at most the
      limit of a chunked body. A ``Content-Length`` that is not a number is a
      400.
    - Anything the app raised and did not answer becomes a problem document:
      a database outage a 503, everything else a 500 that names the request id
      and nothing else.
    """

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, hsts: bool = False
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        request_id = request_id_for(_header(scope, REQUEST_ID_HEADER.encode()))
        scope.setdefault("state", {})["request_id"] = request_id
        with bound(request_id=request_id):
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, request_id)

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        started = time.perf_counter()
        status = 500
        response_started = False
        extra_headers = response_headers(scope["path"], request_id, hsts=self.hsts)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers.extend(
                    (key, value) for key, value in extra_headers if key not in present
                )
                message = {**message, "headers": headers}
            await send(message)

        try:
            receive = await self._limit_body(scope, receive)
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            if response_started:
                log.exception("http.response_interrupted")
            else:
                await self._answer_error(scope, send_with_headers, error, request_id)
        finally:
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

    async def _limit_body(self, scope: Scope, receive: Receive) -> Receive:
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not _CONTENT_LENGTH.fullmatch(declared):
                raise _BadContentLength
            if (
                len(declared) > _MAX_LENGTH_DIGITS
                or int(declared) > self.max_body_bytes
            ):
                raise _BodyTooLarge
            return receive
        if _header(scope, b"transfer-encoding") is None:
            return receive

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _answer_error(
        self, scope: Scope, send: Send, error: Exception, request_id: str
    ) -> None:
        known: AppError | None
        if isinstance(error, _BodyTooLarge):
            known = PayloadTooLarge(
                f"The request body is larger than {self.max_body_bytes} bytes."
            )
        elif isinstance(error, _BadContentLength):
            known = InvalidContentLength()
        else:
            known = classify_database_error(error)
        if known is None:
            # Called from the except block in _http, so the traceback is current.
            log.exception(  # noqa: LOG004
                "http.unhandled_error", error_type=type(error).__name__
            )
            known = InternalError(
                "An unexpected error occurred. Quote the request id when reporting it."
            )
        else:
            log.warning(
                "http.request_failed", code=known.code, error_type=type(error).__name__
            )
        body = problem_body(
            status=known.status,
            code=known.code,
            title=known.title,
            detail=known.detail,
            instance=scope["path"],
            request_id=request_id,
        )
        await send_problem(send, known.status, body, known.headers.items())


async def send_problem(
    send: Send,
    status: int,
    body: dict[str, object],
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw_headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(payload)).encode()),
        *((key.lower().encode(), value.encode()) for key, value in headers),
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": raw_headers}
    )
    await send({"type": "http.response.body", "body": payload})


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS handling, as the outermost layer, in our envelope.

    Preflight requests are answered here and never reach the layers inside,
    so this stamps them with the request id and security headers itself, and
    a refused one (origin, method or header not allowed) is a 400 problem
    document with the code ``cors_refused`` instead of Starlette's plain text.
    Every other answer passes through Starlette's own handling, which adds the
    ``Access-Control-*`` headers.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Collection[str],
        allow_methods: Collection[str],
        allow_headers: Collection[str],
        allow_credentials: bool,
        expose_headers: Collection[str],
        max_age: int,
        hsts: bool,
    ) -> None:
        super().__init__(
            app,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            allow_credentials=allow_credentials,
            expose_headers=expose_headers,
            max_age=max_age,
        )
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_preflight(scope):
            await super().__call__(scope, receive, send)
            return
        request_id = request_id_for(_header(scope, REQUEST_ID_HEADER.encode()))
        headers = Headers(scope=scope)
        answer = self.preflight_response(request_headers=headers)
        if answer.status_code != 200:
            with bound(request_id=request_id):
                answer = self._refusal(answer, scope["path"], request_id, headers)
        present = {key for key, _ in answer.raw_headers}
        answer.raw_headers.extend(
            (key, value)
            for key, value in response_headers(
                scope["path"], request_id, hsts=self.hsts
            )
            if key not in present
        )
        await answer(scope, receive, send)

    def _refusal(
        self, answer: Response, path: str, request_id: str, request_headers: Headers
    ) -> Response:
        # Starlette's text names what was refused: "Disallowed CORS origin, method".
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        log.info(
            "http.cors_refused",
            path=path,
            refused=refused,
            origin=request_headers.get("origin", "")[:200],
        )
        error = CorsRefused(f"Not allowed by this API's CORS policy: {refused}.")
        body = problem_body(
            status=error.status,
            code=error.code,
            title=error.title,
            detail=error.detail,
            instance=path,
            request_id=request_id,
        )
        cors_headers = {
            key: value
            for key, value in answer.headers.items()
            if key not in ("content-length", "content-type")
        }
        return JSONResponse(
            body,
            status_code=error.status,
            headers=cors_headers,
            media_type=PROBLEM_JSON,
        )


def _is_preflight(scope: Scope) -> bool:
    """What Starlette's CORS answers itself: OPTIONS with Origin and a method."""
    return (
        scope["method"] == "OPTIONS"
        and _header(scope, b"origin") is not None
        and _header(scope, b"access-control-request-method") is not None
    )

"""The HTTP application of `pav serve` (Starlette): routes, limits, errors.

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models``
(and ``/v1/models/{id}``), ``GET /health``. Every answer that is not a success is an
OpenAI-style JSON error (``{"error": {"message", "type", "param", "code"}}``), unknown
paths and methods included, so an OpenAI client raises its usual exceptions.

The body is read here, counted as it arrives: past ``max_body_bytes`` it is no longer
kept (413). A request is checked in full (:mod:`~prompt_a_video.serving.protocol`)
before it is queued, and a stream starts only once its answer is ready, so every
refusal has its own status code, never an error inside a 200 stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from prompt_a_video.serving import protocol
from prompt_a_video.serving.batcher import Busy, Closed, MicroBatcher
from prompt_a_video.serving.protocol import ApiError, Defaults

__all__ = ["build_app", "DEFAULT_MAX_BODY_BYTES"]

log = logging.getLogger("prompt_a_video.serving")

#: 1 MiB: a prompt is a few hundred bytes; a chat history of a thousand turns still fits.
DEFAULT_MAX_BODY_BYTES = 1 << 20
#: A body this many times the limit is not read to its end: the connection is closed.
_DRAIN_FACTOR = 16


def _error(exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes; a larger one is read on (not kept) so the
    client sees the 413 rather than a reset connection, up to a hard cap."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.strip().isdigit() or len(declared) > 18):
        raise ApiError(400, f"invalid Content-Length header: {declared[:40]!r}", code="invalid_header")
    too_big = ApiError(413, f"the request body is larger than {limit} bytes (pav serve --max_body_bytes)",
                       code="request_too_large")
    if declared is not None and int(declared) > limit * _DRAIN_FACTOR:
        raise too_big
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit * _DRAIN_FACTOR:
                break
            if size <= limit:
                chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "the client closed the connection before sending the whole body",
                       code="client_disconnected") from None
    if size > limit:
        raise too_big
    return b"".join(chunks)


def build_app(run_batcher: MicroBatcher, model_ids: str | Sequence[str], *, defaults: Defaults = Defaults(),
              api_key: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
              on_shutdown: Callable[[], None] | None = None) -> Starlette:
    """The application answering for the refiner behind ``run_batcher``.

    Args:
        run_batcher: queues checked requests for the refiner (started by the caller).
        model_ids: the id(s) a client may send as ``model`` (all listed by ``/v1/models``;
            an answer names the one asked for).
        defaults: sampling settings for what a request leaves out (None: the refiner's).
        api_key: if given, ``/v1/*`` needs ``Authorization: Bearer API_KEY`` (401 otherwise);
            ``/health`` stays open for probes.
        max_body_bytes: largest request body (413 above).
        on_shutdown: called when the server stops (after the requests in flight ended).
    """
    created = int(time.time())
    served = (model_ids,) if isinstance(model_ids, str) else tuple(model_ids)
    if not served or not all(isinstance(name, str) and name for name in served):
        raise ValueError(f"model ids must be non-empty strings, got {model_ids!r}")
    expected = f"Bearer {api_key}".encode() if api_key else None

    def authorize(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise ApiError(401, "missing or wrong API key: send the header 'Authorization: Bearer API_KEY' "
                                "(the key given to pav serve --api_key)", code="invalid_api_key")

    async def refine(request: Request, parse: Callable[..., protocol.RefineRequest]) -> Response:
        try:
            authorize(request)
            body = protocol.decode_json(await _read_body(request, max_body_bytes))
            checked = parse(body, served, defaults)
            try:
                future = run_batcher.submit(checked.prompts, checked.options, checked.batch_key)
            except Closed:
                raise ApiError(503, "the server is shutting down", code="shutting_down") from None
            except Busy as exc:
                raise ApiError(503, f"the server is overloaded ({exc}): retry later", code="overloaded") from None
            try:
                answers = await asyncio.wrap_future(future)
            except (ValueError, TypeError) as exc:  # settings refine itself refused
                raise ApiError(400, (str(exc).splitlines() or [""])[0][:300], code="invalid_value") from None
            except Exception as exc:
                log.exception("the refiner failed on a request")
                first = (str(exc).splitlines() or [""])[0][:300]
                raise ApiError(500, f"the refiner failed: {type(exc).__name__}: {first}",
                               code="refiner_failed") from None
        except ApiError as exc:
            return _error(exc)
        if checked.kind == "chat":
            whole, chunks = protocol.chat_response, protocol.chat_chunks
        else:
            whole, chunks = protocol.completion_response, protocol.completion_chunks
        if checked.stream:
            events = chunks(checked, list(answers))

            async def stream():
                for event in events:
                    yield event

            return StreamingResponse(stream(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return JSONResponse(whole(checked, list(answers)))

    async def chat_completions(request: Request) -> Response:
        return await refine(request, protocol.parse_chat)

    async def completions(request: Request) -> Response:
        return await refine(request, protocol.parse_completion)

    async def models(request: Request) -> Response:
        try:
            authorize(request)
        except ApiError as exc:
            return _error(exc)
        return JSONResponse({"object": "list", "data": [protocol.model_card(name, created) for name in served]})

    async def model(request: Request) -> Response:
        try:
            authorize(request)
            asked = request.path_params["model"]
            if asked not in served:
                raise ApiError(404, f"the model {asked[:100]!r} does not exist: this server serves "
                                    f"{' or '.join(map(repr, served))}", param="model", code="model_not_found")
        except ApiError as exc:
            return _error(exc)
        return JSONResponse(protocol.model_card(asked, created))

    async def health(request: Request) -> Response:
        status = 503 if run_batcher.closed else 200
        return JSONResponse({"status": "draining" if status == 503 else "ok", "model": served[0],
                             "in_flight": run_batcher.in_flight, **run_batcher.stats}, status_code=status)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        if status == 404:
            return _error(ApiError(404, f"no route {request.url.path[:200]!r}: this server answers "
                                        "/v1/chat/completions, /v1/completions, /v1/models and /health",
                                   code="not_found"))
        if status == 405:
            return _error(ApiError(405, f"{request.method} is not allowed on {request.url.path[:200]!r}",
                                   code="method_not_allowed"))
        return _error(ApiError(status, str(getattr(exc, "detail", "")) or "request refused", code="http_error"))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s: %s", request.url.path, exc, exc_info=exc)
        return _error(ApiError(500, f"internal error: {type(exc).__name__}", code="internal_error"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if on_shutdown is not None:
            await asyncio.get_running_loop().run_in_executor(None, on_shutdown)

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{model:path}", model, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, Exception: server_error})

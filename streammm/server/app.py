"""The Starlette app: websocket Q&A, moment search, clips, thumbnails, health, metrics and the web page.

`create_app` takes its store, text encoder and settings as arguments (tests inject them); it touches no
model library and no broker itself. A clip feed (new clips from the pipeline, for watches) is optional.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.schemas import SchemaGenerator
from starlette.staticfiles import StaticFiles

from streammm import __version__
from streammm.config import Settings
from streammm.models.base import TextEncoder
from streammm.stats import PipelineStats
from streammm.qa.answer import Answerer
from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.service import QueryService
from streammm.qa.vectors import remembering
from streammm.records import Clip, ClipFilter
from streammm.server.auth import Access, Authenticator
from streammm.server.context import ServerContext
from streammm.server.metrics import Metrics
from streammm.server.protocol import RequestError, allowed_streams, clip_json, moment_json, parse_search_body, to_query
from streammm.server.watch import WatchRegistry
from streammm.server.workers import ANSWER, RETRIEVE, QueryWorkers
from streammm.server.ws import websocket_endpoint
from streammm.store.base import ClipStore
from streammm.store.media import media_files

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
ClipFeed = Callable[[asyncio.Event], AsyncIterator[tuple[Clip, float]]]  # (clip, stored_at) as they are stored

SCHEMA = SchemaGenerator({"openapi": "3.0.0", "info": {"title": "streammm", "version": __version__}})


def make_answerer(settings: Settings, encoder: TextEncoder, workers: QueryWorkers | None = None) -> Answerer:
    """The configured answerer; its CPU work runs on `workers` (after retrieval) when given."""
    run = functools.partial(workers.run, ANSWER) if workers is not None else None
    extractive = ExtractiveAnswerer(encoder, max_sentences=settings.qa.max_sentences, run=run)
    if settings.qa.answerer == "llm":
        from streammm.qa.llm import LlmAnswerer

        return LlmAnswerer(settings.qa.llm, extractive)
    return extractive


def create_app(
    settings: Settings,
    store: ClipStore,
    encoder: TextEncoder,
    *,
    data_dir: Path,
    answerer: Answerer | None = None,
    clip_feed: ClipFeed | None = None,
    stats: PipelineStats | None = None,
) -> Starlette:
    workers = QueryWorkers(settings.server.query_threads or None)
    vectors = remembering(encoder)  # shared: an ask's question is encoded once, for retrieval and the answer
    ctx = ServerContext(
        settings=settings,
        service=QueryService(store, vectors),
        answerer=answerer or make_answerer(settings, vectors, workers),
        auth=Authenticator(settings.auth, settings.server.host),
        data_dir=Path(data_dir),
        metrics=Metrics(),
        watches=WatchRegistry(),
        workers=workers,
        has_clip_feed=clip_feed is not None,
        stats=stats,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        feeder = asyncio.create_task(_follow_clips(ctx, clip_feed, stop)) if clip_feed is not None else None
        try:
            yield
        finally:
            stop.set()
            if feeder is not None:
                feeder.cancel()
                await asyncio.gather(feeder, return_exceptions=True)
            workers.shutdown()

    routes = [
        Route("/", index, include_in_schema=False),
        WebSocketRoute("/v1/ws", websocket_endpoint),
        Route("/v1/search", search, methods=["POST"]),
        Route("/v1/streams", streams),
        Route("/v1/streams/{stream_id}/media", stream_media),
        Route("/v1/clips/{clip_id}", clip),
        Route("/v1/clips/{clip_id}/thumbnail.jpg", thumbnail),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi, include_in_schema=False),
    ]
    if STATIC_DIR.is_dir():
        routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={RequestError: _request_error, HTTPException: _http_error},
    )
    app.state.ctx = ctx
    return app


async def _follow_clips(ctx: ServerContext, feed: ClipFeed, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async for clip, stored_at in feed(stop):
                ctx.metrics.clip_heard(stored_at)
                sent = await ctx.watches.on_clip(clip, stored_at)
                if sent:
                    ctx.metrics.matches.inc(sent)
        except asyncio.CancelledError:
            raise
        except Exception:  # the feed must outlive a bad message or a broker hiccup
            log.exception("the clip feed failed; restarting it")
            await asyncio.sleep(1.0)


# --- HTTP handlers ---------------------------------------------------------------------------------------


def _ctx(request: Request) -> ServerContext:
    return request.app.state.ctx


def _access(request: Request) -> Access:
    access = _ctx(request).auth.access(request.headers, request.query_params)
    if access is None:
        raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": 'Bearer realm="streammm"'})
    return access


async def index(request: Request) -> Response:
    page = STATIC_DIR / "index.html"
    if not page.is_file():
        return JSONResponse({"streammm": __version__, "api": "/openapi.json", "websocket": "/v1/ws"})
    return FileResponse(page, media_type="text/html")


async def search(request: Request) -> Response:
    """Find moments: the same retrieval as the websocket `ask`, without an answer.
    ---
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [query]
            properties:
              query: {type: string}
              streams: {type: array, items: {type: string}}
              time_range: {type: array, items: {type: number}, minItems: 2, maxItems: 2}
              k: {type: integer, minimum: 1}
              strategy: {type: string, enum: [visual, speech, ocr, joint, late, hybrid]}
    responses:
      200: {description: "{moments: [moment]} best first"}
      400: {description: "bad request: {error: {code, message}}"}
      401: {description: missing or invalid token}
      404: {description: unknown stream}
      413: {description: body too large}
    """
    started = time.perf_counter()
    ctx = _ctx(request)
    access = _access(request)
    declared = request.headers.get("content-length")
    limit = ctx.settings.server.max_message_kb * 1024
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError("too_large", f"body is {declared} bytes; the limit is {ctx.settings.server.max_message_kb} KB", status=413)
    body = parse_search_body(await request.body(), ctx.settings.server)
    known = await ctx.workers.run(RETRIEVE, ctx.service.stream_ids) if body.streams else None
    query = to_query(body, body.query, allowed_streams(body.streams, access, known, None), ctx.settings.server, ctx.settings.qa.strategy)
    moments = await ctx.workers.run(RETRIEVE, ctx.service.moments, query)
    ctx.metrics.latency.labels("search").observe(time.perf_counter() - started)
    return JSONResponse({"moments": [moment_json(m) for m in moments]})


async def streams(request: Request) -> Response:
    """The streams this token may see.
    ---
    responses:
      200: {description: "{streams: [{stream_id, clips, start_s, end_s, media_url}]}"}
      401: {description: missing or invalid token}
    """
    ctx = _ctx(request)
    access = _access(request)
    found = await asyncio.to_thread(ctx.service.streams)
    playable = media_files(ctx.data_dir)
    return JSONResponse(
        {
            "streams": [
                {
                    "stream_id": s.stream_id,
                    "clips": s.clips,
                    "start_s": s.start_s,
                    "end_s": s.end_s,
                    "media_url": f"/v1/streams/{quote(s.stream_id, safe='')}/media" if s.stream_id in playable else None,
                }
                for s in found
                if access.allows(s.stream_id)
            ]
        }
    )


async def stream_media(request: Request) -> Response:
    """The stream's source file, for the player (byte ranges supported).
    ---
    responses:
      200: {description: the media file}
      206: {description: a byte range of it}
      401: {description: missing or invalid token}
      404: {description: "unknown stream, or no file recorded for it"}
    """
    ctx = _ctx(request)
    access = _access(request)
    stream_id = request.path_params["stream_id"]
    path = media_files(ctx.data_dir).get(stream_id) if access.allows(stream_id) else None
    if path is None:
        raise RequestError("unknown_stream", f"no playable media for stream {stream_id!r}", status=404)
    return FileResponse(path)


async def clip(request: Request) -> Response:
    """One clip: window, transcript, words, on-screen lines, tags, thumbnail URL.
    ---
    responses:
      200: {description: the clip}
      401: {description: missing or invalid token}
      404: {description: unknown clip}
    """
    return JSONResponse(clip_json(await _find_clip(request)))


async def thumbnail(request: Request) -> Response:
    """The clip's keyframe as JPEG.
    ---
    responses:
      200: {description: image/jpeg}
      401: {description: missing or invalid token}
      404: {description: "unknown clip, or it has no keyframe"}
    """
    found = await _find_clip(request)
    path = _ctx(request).data_dir / "thumbnails" / found.thumbnail if found.thumbnail else None
    if path is None or not path.is_file():
        raise RequestError("not_found", f"clip {found.clip_id} has no thumbnail", status=404)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


async def _find_clip(request: Request) -> Clip:
    ctx = _ctx(request)
    access = _access(request)
    clip_id = request.path_params["clip_id"]
    found = await asyncio.to_thread(ctx.service.store.get, [clip_id])
    if not found or not access.allows(found[0].stream_id):
        raise RequestError("not_found", f"unknown clip {clip_id!r}", status=404)
    return found[0]


async def healthz(request: Request) -> Response:
    """The process is up.
    ---
    responses:
      200: {description: ok}
    """
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    """The store answers and the models are loaded.
    ---
    responses:
      200: {description: ready}
      503: {description: "not ready, with the reason"}
    """
    ctx = _ctx(request)
    try:
        clips = await asyncio.wait_for(asyncio.to_thread(ctx.service.store.count), timeout=5.0)
    except Exception as exc:  # any store failure means "not ready", with the reason
        return JSONResponse({"ready": False, "reason": f"store: {type(exc).__name__}: {str(exc)[:200]}"}, status_code=503)
    return JSONResponse({"ready": True, "clips": clips})


async def metrics(request: Request) -> Response:
    """Prometheus metrics.
    ---
    responses:
      200: {description: Prometheus text format}
    """
    ctx = _ctx(request)
    store = ctx.service.store
    try:
        clips = await asyncio.wait_for(asyncio.to_thread(store.count), timeout=5.0)
        incomplete = await asyncio.wait_for(asyncio.to_thread(store.count, ClipFilter(incomplete=True)), timeout=5.0)
    except Exception:
        clips = incomplete = None
    body = await asyncio.to_thread(ctx.metrics.render, clips, ctx.stats, incomplete)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    return JSONResponse(SCHEMA.get_schema(routes=request.app.routes))


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    _ctx(request).metrics.errors.labels(exc.code).inc()
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body: dict[str, Any] = {"error": {"code": code, "message": exc.detail}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

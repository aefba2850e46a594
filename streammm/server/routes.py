"""The HTTP routes: moment search, streams and their media, clips and thumbnails, config, health, metrics,
the web page, and the JSON errors they answer with. The websocket is in `ws`, the OpenAPI in `openapi`."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from streammm import __version__
from streammm.config import STRATEGIES
from streammm.records import Clip, ClipFilter, stream_id_problem
from streammm.server.auth import Access
from streammm.server.context import ServerContext
from streammm.server.openapi import openapi
from streammm.server.protocol import RequestError, allowed_streams, clip_json, moment_json, new_incident_id, parse_search_body, to_query
from streammm.server.workers import RETRIEVE
from streammm.server.ws import websocket_endpoint
from streammm.stats import SourceControl
from streammm.store.media import media_files

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger(__name__)


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = [
        Route("/", index, include_in_schema=False),
        WebSocketRoute("/v1/ws", websocket_endpoint),
        Route("/v1/search", search, methods=["POST"]),
        Route("/v1/streams", streams, methods=["GET", "POST"]),
        Route("/v1/streams/{stream_id}", stop_stream, methods=["DELETE"]),
        Route("/v1/streams/{stream_id}/media", stream_media),
        Route("/v1/clips/{clip_id}", clip),
        Route("/v1/clips/{clip_id}/thumbnail.jpg", thumbnail),
        Route("/v1/config", config),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi, include_in_schema=False),
    ]
    if STATIC_DIR.is_dir():
        table.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
    return table


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
    body = parse_search_body(await read_body(request, ctx.settings.server.max_message_kb), ctx.settings.server)
    known = await ctx.workers.run(RETRIEVE, ctx.service.stream_ids) if body.streams else None
    query = to_query(body, body.query, allowed_streams(body.streams, access, known, None), ctx.settings.server, ctx.settings.qa.strategy)
    moments = await ctx.batches.moments(query)
    ctx.metrics.latency.labels("search").observe(time.perf_counter() - started)
    return JSONResponse({"moments": [moment_json(m) for m in moments]})


async def read_body(request: Request, limit_kb: int) -> bytes:
    """The request body, read only up to `limit_kb`: a larger body (declared, or chunked with no
    Content-Length) is refused with 413 as soon as it passes the limit, never buffered whole."""
    limit = limit_kb * 1024
    too_large = RequestError("too_large", f"the body is larger than the limit of {limit_kb} KB", status=413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def streams(request: Request) -> Response:
    """The streams this token may see: stored ones, and the sources this process ingests with their state.
    POST adds a live source (`{"source": URL, "stream_id": ID}`, optional `username`, `password`), with a
    token that may see every stream.
    ---
    responses:
      200: {description: "{streams: [{stream_id, clips, start_s, end_s, media_url, source, state, last_error, reconnects, gaps, gap_s}]}"}
      201: {description: "POST: the source was added: {stream_id, source, state}"}
      400: {description: "POST: bad request: {error: {code, message}}"}
      401: {description: missing or invalid token}
      403: {description: "POST: the token may not manage sources"}
      409: {description: "POST: the stream already has a source"}
      501: {description: "POST: this server runs no sources (streammm serve)"}
    """
    if request.method == "POST":
        return await add_stream(request)
    ctx = _ctx(request)
    access = _access(request)
    found = await asyncio.to_thread(ctx.service.streams)
    playable = media_files(ctx.data_dir)
    sources = ctx.stats.sources() if ctx.stats is not None else {}
    rows: dict[str, dict[str, Any]] = {}
    for s in found:
        if access.allows(s.stream_id):
            rows[s.stream_id] = {
                "stream_id": s.stream_id,
                "clips": s.clips,
                "start_s": s.start_s,
                "end_s": s.end_s,
                "media_url": f"/v1/streams/{quote(s.stream_id, safe='')}/media" if s.stream_id in playable else None,
            }
    for stream_id, status in sources.items():
        if access.allows(stream_id):
            row = rows.setdefault(stream_id, {"stream_id": stream_id, "clips": 0, "start_s": None, "end_s": None, "media_url": None})
            row.update(status.as_json())
            if not status.live:
                row["source"] = None  # a file's path on this machine is not the client's business
    return JSONResponse({"streams": sorted(rows.values(), key=lambda r: r["stream_id"])})


async def add_stream(request: Request) -> Response:
    ctx = _ctx(request)
    access = _access(request)
    control = _source_control(request, access)
    body = await read_body(request, ctx.settings.server.max_message_kb)
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise RequestError("bad_request", "the body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("source"), str) or not isinstance(data.get("stream_id"), str):
        raise RequestError("bad_request", 'expected {"source": URL, "stream_id": ID} (optional "username", "password")')
    stream_id = data["stream_id"]
    if not re.fullmatch(r"[\w.-]{1,128}", stream_id) or stream_id_problem(stream_id):
        raise RequestError("bad_request", "stream_id: letters, digits, '_', '.', '-' (at most 128), not only dots")
    from streammm.errors import ConfigError
    from streammm.media.urls import mask_url, with_credentials

    source = with_credentials(data["source"], data.get("username"), data.get("password"))
    try:
        control.add(source, stream_id)
    except ConfigError as exc:
        status = 409 if "already has a source" in str(exc) else 400
        raise RequestError("conflict" if status == 409 else "bad_request", str(exc), status=status) from None
    return JSONResponse({"stream_id": stream_id, "source": mask_url(source), "state": "connecting"}, status_code=201)


async def stop_stream(request: Request) -> Response:
    """Stop the stream's source: what it has buffered is published (its last clip gets its words), then it
    ends. Its stored clips stay.
    ---
    responses:
      200: {description: "{stream_id, state: stopping}"}
      401: {description: missing or invalid token}
      403: {description: the token may not manage sources}
      404: {description: no running source has this id}
      501: {description: "this server runs no sources (streammm serve)"}
    """
    access = _access(request)
    control = _source_control(request, access)
    stream_id = request.path_params["stream_id"]
    if not control.remove(stream_id):
        raise RequestError("unknown_stream", f"no running source for stream {stream_id!r}", status=404)
    return JSONResponse({"stream_id": stream_id, "state": "stopping"})


def _source_control(request: Request, access: Access) -> SourceControl:
    if access.streams is not None:
        raise RequestError("forbidden", "this token may not manage sources (it is limited to some streams)", status=403)
    stats = _ctx(request).stats
    if stats is None or stats.control is None:
        raise RequestError("not_implemented", "this server runs no sources (sources are managed by `streammm up`)", status=501)
    return stats.control


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
    folder = (_ctx(request).data_dir / "thumbnails").resolve()
    # Only a file directly in the thumbnails folder: a stored name is data, never a path to follow.
    path = (folder / Path(found.thumbnail).name).resolve() if found.thumbnail else None
    if path is None or path.parent != folder or not path.is_file():
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


async def config(request: Request) -> Response:
    """What a client may choose: the retrieval strategies, and the one used when a request names none.
    ---
    responses:
      200: {description: "{strategies: [string], default_strategy: string}"}
      401: {description: missing or invalid token}
    """
    _access(request)
    return JSONResponse({"strategies": list(STRATEGIES), "default_strategy": _ctx(request).settings.qa.strategy})


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
    except Exception as exc:  # any store failure means "not ready"; the details go to the log, not to the caller
        incident = new_incident_id()
        log.warning("readyz: the store does not answer (incident %s)", incident, exc_info=True)
        return JSONResponse({"ready": False, "reason": f"the store does not answer ({type(exc).__name__}); logged as {incident}"}, status_code=503)
    return JSONResponse({"ready": True, "clips": clips})


async def metrics(request: Request) -> Response:
    """Prometheus metrics. With auth on it needs a token: any of auth.tokens, or auth.metrics_token.
    ---
    responses:
      200: {description: Prometheus text format}
      401: {description: missing or invalid token}
    """
    ctx = _ctx(request)
    if not ctx.auth.may_read_metrics(request.headers, request.query_params):
        raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": 'Bearer realm="streammm"'})
    store = ctx.service.store
    try:
        clips = await asyncio.wait_for(asyncio.to_thread(store.count), timeout=5.0)
        incomplete = await asyncio.wait_for(asyncio.to_thread(store.count, ClipFilter(incomplete=True)), timeout=5.0)
    except Exception:
        clips = incomplete = None
    body = await asyncio.to_thread(ctx.metrics.render, clips, ctx.stats, incomplete)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


# --- errors -----------------------------------------------------------------------------------------------


async def request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    _ctx(request).metrics.errors.labels(exc.code).inc()
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body: dict[str, Any] = {"error": {"code": code, "message": exc.detail}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    """Any other failure: a 500 with an incident id; what went wrong is logged under that id, never sent."""
    incident = new_incident_id()
    log.error("%s %s failed (incident %s)", request.method, request.url.path, incident, exc_info=exc)
    _ctx(request).metrics.errors.labels("internal").inc()
    return JSONResponse({"error": {"code": "internal", "message": f"internal error, logged as {incident}"}}, status_code=500)


EXCEPTION_HANDLERS = {RequestError: request_error, HTTPException: http_error, Exception: internal_error}

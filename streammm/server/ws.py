"""One websocket connection: asks answered concurrently, watches registered, cancels honoured.

Every request is answered by events carrying its id; a bad message gets an `error` event and the
socket stays open. Sends are serialised by a lock, so concurrent answers never interleave frames.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from streammm.qa.answer import Delta, keep_cited_evidence
from streammm.server.auth import Access
from streammm.server.context import ServerContext
from streammm.server.protocol import (
    AskMessage,
    CancelMessage,
    RequestError,
    WatchMessage,
    allowed_streams,
    delta_event,
    done_event,
    error_event,
    moments_event,
    parse_client_message,
    to_query,
)
from streammm.server.watch import Watch
from streammm.server.workers import RETRIEVE

log = logging.getLogger(__name__)
UNAUTHORIZED = 4401


async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx: ServerContext = websocket.app.state.ctx
    access = ctx.auth.access(websocket.headers, websocket.query_params)
    await websocket.accept()
    if access is None:
        await websocket.close(code=UNAUTHORIZED, reason="missing or invalid token")
        return
    await Connection(websocket, ctx, access).run()


class Connection:
    def __init__(self, websocket: WebSocket, ctx: ServerContext, access: Access) -> None:
        self.websocket = websocket
        self.ctx = ctx
        self.access = access
        self.asks: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()
        self._open = True

    async def run(self) -> None:
        self.ctx.metrics.connections.inc()
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text") if message.get("text") is not None else message.get("bytes") or b""
                await self.handle(raw)
        except WebSocketDisconnect:
            pass
        finally:
            self._open = False
            for task in list(self.asks.values()):
                task.cancel()
            self.ctx.watches.remove_owner(self)
            self.ctx.metrics.watches.set(self.ctx.watches.count())
            self.ctx.metrics.connections.dec()

    async def send(self, event: dict[str, Any]) -> None:
        if not self._open:
            return
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(event, ensure_ascii=False))

    async def send_error(self, error: RequestError) -> None:
        self.ctx.metrics.errors.labels(error.code).inc()
        await self.send(error_event(error.request_id, error.code, error.message))

    async def handle(self, raw: str | bytes) -> None:
        try:
            message = parse_client_message(raw, self.ctx.settings.server)
            if isinstance(message, AskMessage):
                self.start_ask(message)
            elif isinstance(message, WatchMessage):
                await self.start_watch(message)
            elif isinstance(message, CancelMessage):
                await self.cancel(message.id)
        except RequestError as error:
            await self.send_error(error)

    # --- ask ---------------------------------------------------------------------------------------------

    def start_ask(self, message: AskMessage) -> None:
        self._check_new_id(message.id)
        if len(self.asks) >= self.ctx.settings.server.max_in_flight:
            raise RequestError(
                "too_many_requests", f"{len(self.asks)} asks are in progress on this socket (limit {self.ctx.settings.server.max_in_flight})", message.id
            )
        task = asyncio.create_task(self._ask(message), name=f"ask-{message.id}")
        self.asks[message.id] = task
        task.add_done_callback(lambda _: self.asks.pop(message.id, None) if self.asks.get(message.id) is task else None)

    async def _ask(self, message: AskMessage) -> None:
        started = time.perf_counter()
        ctx = self.ctx
        try:
            known = await ctx.workers.run(RETRIEVE, ctx.service.stream_ids) if message.streams else None
            streams = allowed_streams(message.streams, self.access, known, message.id)
            query = to_query(message, message.question, streams, ctx.settings.server, ctx.settings.qa.strategy)
            moments = await ctx.workers.run(RETRIEVE, ctx.service.moments, query)
            await self.send(moments_event(message.id, moments))
            ctx.metrics.latency.labels("moments").observe(time.perf_counter() - started)
            evidence = moments[: ctx.settings.qa.evidence_moments]
            async for event in ctx.answerer.answer(message.question, evidence):
                if isinstance(event, Delta):
                    await self.send(delta_event(message.id, event.text))
                    continue
                done = keep_cited_evidence(event, moments)
                if done.removed_citations:
                    ctx.metrics.removed_citations.inc(done.removed_citations)
                await self.send(done_event(message.id, done))
            ctx.metrics.latency.labels("answer").observe(time.perf_counter() - started)
        except RequestError as error:
            await self.send_error(error)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one failed ask must not take down the socket or the other requests
            log.exception("ask %s failed", message.id)
            await self.send_error(RequestError("internal", f"could not answer: {type(exc).__name__}: {str(exc)[:200]}", message.id))

    # --- watch and cancel ------------------------------------------------------------------------------

    async def start_watch(self, message: WatchMessage) -> None:
        ctx = self.ctx
        if not ctx.has_clip_feed:
            raise RequestError(
                "watch_unavailable",
                "this server does not follow live streams: run `streammm up`, or give `streammm serve` the pipeline's broker "
                "(kafka.bootstrap_servers), to use watches",
                message.id,
            )
        self._check_new_id(message.id)
        if ctx.watches.count(self) >= ctx.settings.server.max_watches:
            raise RequestError("too_many_requests", f"this socket already has {ctx.settings.server.max_watches} watches", message.id)
        streams = allowed_streams(message.streams, self.access, None, message.id)
        vector = await ctx.workers.run(RETRIEVE, ctx.service.encode, message.query)
        threshold = ctx.settings.server.watch_threshold if message.threshold is None else message.threshold
        ctx.watches.add(Watch(self, message.id, message.query, vector, streams, self.access, threshold, self.send))
        ctx.metrics.watches.set(ctx.watches.count())
        await self.send({"type": "watching", "id": message.id})

    async def cancel(self, request_id: str) -> None:
        task = self.asks.pop(request_id, None)
        if task is not None:
            task.cancel()
        elif not self.ctx.watches.remove(self, request_id):
            raise RequestError("unknown_id", f"no ask in progress or watch with id {request_id!r}", request_id)
        self.ctx.metrics.watches.set(self.ctx.watches.count())
        await self.send({"type": "cancelled", "id": request_id})

    def _check_new_id(self, request_id: str) -> None:
        if request_id in self.asks or self.ctx.watches.has(self, request_id):
            raise RequestError("duplicate_id", f"id {request_id!r} is already in use on this socket", request_id)

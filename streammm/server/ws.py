"""One websocket connection: asks answered concurrently, watches registered, cancels honoured.

Every request is answered by events carrying its id; a bad message gets an `error` event and the
socket stays open. Events go out through the socket's outbox (one sender, bounded in bytes): a socket
that stops reading is closed with 1008 and its watches dropped, and never slows anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from streammm.qa.answer import Delta, keep_cited_evidence
from streammm.server.auth import Access
from streammm.server.context import ServerContext
from streammm.server.outbox import Outbox
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
    new_incident_id,
    parse_client_message,
    to_query,
)
from streammm.server.watch import Watch
from streammm.server.workers import RETRIEVE

log = logging.getLogger(__name__)
UNAUTHORIZED = 4401
POLICY_VIOLATION = 1008  # a socket too slow to read its events
TRY_AGAIN_LATER = 1013  # the server has as many sockets as it takes
CLOSE_WAIT_S = 1.0  # how long a close frame may wait to be written to a socket that does not read


async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx: ServerContext = websocket.app.state.ctx
    access = ctx.auth.access(websocket.headers, websocket.query_params)
    await websocket.accept()
    if access is None:
        await websocket.close(code=UNAUTHORIZED, reason="missing or invalid token")
        return
    limit = ctx.settings.server.max_connections
    if ctx.open_connections >= limit:
        ctx.metrics.errors.labels("too_many_connections").inc()
        await websocket.close(code=TRY_AGAIN_LATER, reason=f"the server has {limit} open sockets (server.max_connections)")
        return
    ctx.open_connections += 1
    try:
        await Connection(websocket, ctx, access).run()
    finally:
        ctx.open_connections -= 1


class Connection:
    def __init__(self, websocket: WebSocket, ctx: ServerContext, access: Access) -> None:
        self.websocket = websocket
        self.ctx = ctx
        self.access = access
        self.asks: dict[str, asyncio.Task[None]] = {}
        limits = ctx.settings.server
        self.outbox = Outbox(limits.max_queued_kb * 1024, limits.send_timeout_s)

    async def run(self) -> None:
        self.ctx.metrics.connections.inc()
        reader = asyncio.create_task(self._read(), name="ws-read")
        sender = asyncio.create_task(self.outbox.drain(self.websocket.send_text), name="ws-send")
        stopped = asyncio.create_task(self.outbox.wait_stopped(), name="ws-stopped")
        too_slow: str | None = None
        try:
            done, _ = await asyncio.wait([reader, sender, stopped], return_when=asyncio.FIRST_COMPLETED)
            if reader not in done and stopped in done:
                too_slow = stopped.result()
        finally:
            self.outbox.stop("closed")
            for task in [reader, sender, stopped, *self.asks.values()]:
                task.cancel()
            await asyncio.gather(reader, sender, stopped, return_exceptions=True)
            self.ctx.watches.remove_owner(self)
            self.ctx.metrics.watches.set(self.ctx.watches.count())
            self.ctx.metrics.connections.dec()
        if too_slow is not None:  # close it, without waiting on it for long
            log.info("closing a websocket: %s", too_slow)
            self.ctx.metrics.errors.labels("too_slow").inc()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.websocket.close(code=POLICY_VIOLATION, reason=too_slow[:120]), CLOSE_WAIT_S)

    async def _read(self) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text") if message.get("text") is not None else message.get("bytes") or b""
                await self.handle(raw)

    async def send(self, event: dict[str, Any]) -> None:
        """Queue an event, waiting while this socket's outbox is full (a closed socket drops it)."""
        await self.outbox.put(json.dumps(event, ensure_ascii=False))

    def deliver(self, event: dict[str, Any]) -> bool:
        """Queue a watch's event without waiting; a socket too far behind is closed instead."""
        return self.outbox.offer(json.dumps(event, ensure_ascii=False))

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
            moments = await ctx.batches.moments(query)
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
        except Exception:  # one failed ask must not take down the socket or the other requests
            incident = new_incident_id()
            log.exception("ask %s failed (incident %s)", message.id, incident)
            await self.send_error(RequestError("internal", f"could not answer: internal error, logged as {incident}", message.id))

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
        if ctx.watches.count() >= ctx.settings.server.max_watches_total:
            raise RequestError(
                "too_many_requests", f"the server has {ctx.settings.server.max_watches_total} watches (server.max_watches_total)", message.id
            )
        streams = allowed_streams(message.streams, self.access, None, message.id)
        vector = await ctx.workers.run(RETRIEVE, ctx.service.encode, message.query)
        threshold = ctx.settings.server.watch_threshold if message.threshold is None else message.threshold
        ctx.watches.add(Watch(self, message.id, message.query, vector, streams, self.access, threshold, self.deliver))
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

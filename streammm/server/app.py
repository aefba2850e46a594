"""The Starlette app: `create_app` wires a store, a text encoder and settings to the routes, for its lifespan.

`create_app` takes its store, text encoder and settings as arguments (tests inject them); it touches no
model library and no broker itself. A clip feed (new clips from the pipeline, for watches) is optional.
The routes are in `routes` (HTTP), `ws` (websocket) and `openapi`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware

from streammm.config import Settings
from streammm.models.base import TextEncoder
from streammm.qa.answer import Answerer
from streammm.qa.service import QueryService
from streammm.qa.vectors import remembering
from streammm.records import Clip
from streammm.server.answerers import make_answerer
from streammm.server.auth import Authenticator
from streammm.server.context import ServerContext
from streammm.server.metrics import Metrics
from streammm.server.origins import BrowserGuard
from streammm.server.routes import EXCEPTION_HANDLERS, routes
from streammm.server.watch import WatchRegistry
from streammm.server.batches import RetrievalBatches
from streammm.server.workers import QueryWorkers
from streammm.stats import PipelineStats
from streammm.store.base import ClipStore

__all__ = ["ClipFeed", "create_app", "make_answerer"]

log = logging.getLogger(__name__)
ClipFeed = Callable[[asyncio.Event], AsyncIterator[tuple[Clip, float]]]  # (clip, stored_at) as they are stored


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
    service = QueryService(store, vectors, min_relevance=settings.qa.min_relevance)
    ctx = ServerContext(
        settings=settings,
        service=service,
        answerer=answerer or make_answerer(settings, vectors, workers),
        auth=Authenticator(settings.auth, settings.server.host, insecure=settings.server.insecure),
        data_dir=Path(data_dir),
        metrics=Metrics(),
        watches=WatchRegistry(),
        workers=workers,
        batches=RetrievalBatches(workers, service, settings.server.retrieval_batch),
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

    guard = Middleware(
        BrowserGuard, auth_enabled=ctx.auth.enabled, allowed_hosts=settings.server.allowed_hosts,
        allowed_origins=settings.server.allowed_origins,
    )
    app = Starlette(routes=routes(), lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS, middleware=[guard])
    app.state.ctx = ctx
    return app


async def _follow_clips(ctx: ServerContext, feed: ClipFeed, stop: asyncio.Event) -> None:
    """Hand every clip the feed gives to the watches, until `stop`."""
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

"""Run the server: under uvicorn in the current event loop, on its own (`serve`) or inside `up`."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import uvicorn

from streammm.config import ServerConfig, Settings
from streammm.errors import ConfigError
from streammm.models.base import TextEncoder
from streammm.stats import PipelineStats
from streammm.server.app import ClipFeed, create_app
from streammm.store.base import ClipStore

log = logging.getLogger(__name__)


def ws_max_bytes(limits: ServerConfig) -> int:
    """The largest websocket message the server reads at all: twice `server.max_message_kb`, so a message
    a little over the limit gets a `too_large` error event and the socket stays open, while a far larger
    one closes the socket (1009) before it is buffered whole."""
    return 2 * limits.max_message_kb * 1024


async def serve(
    settings: Settings,
    store: ClipStore,
    encoder: TextEncoder,
    *,
    data_dir: Path,
    clip_feed: ClipFeed | None = None,
    stats: PipelineStats | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (or a signal, when `stop` is None)."""
    app = create_app(settings, store, encoder, data_dir=data_dir, clip_feed=clip_feed, stats=stats)
    config = uvicorn.Config(
        app, host=settings.server.host, port=settings.server.port, log_level="warning",
        ws_max_size=ws_max_bytes(settings.server), lifespan="on", access_log=False,
    )
    server = uvicorn.Server(config)
    if stop is not None:
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the caller owns signals
    task = asyncio.create_task(server.serve(), name="server")
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if not server.started:
        try:
            await task
        except (SystemExit, OSError):
            pass
        raise ConfigError(f"cannot listen on {settings.server.host}:{settings.server.port} (in use, or not an address of this machine)")
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    print(f"streammm: serving on http://{host}:{port}  (websocket ws://{host}:{port}/v1/ws)", file=sys.stderr, flush=True)
    if stop is None:
        await task
        return
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    waiter.cancel()
    await task

"""The sources one `streammm up` publishes: each in a supervised task, added and stopped at run time.

A source's own trouble (a drop, a refused connection) is handled where it is read (sources.live_segments);
what reaches this module is a publisher that failed: a file that cannot be read, a live source given up
after `ingest.max_reconnects`, or an error that is nobody's plan (a bug). The last kind is never silent:
it is logged with its reason, counted, shown in the source's state, and the publisher is started again
with backoff, for ever for a live source and up to MAX_FILE_ATTEMPTS times for a file.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streammm.config import Settings
from streammm.errors import ConfigError, MediaError
from streammm.ingest.publisher import publish
from streammm.ingest.sources import is_live
from streammm.ingest.spool import Spool
from streammm.media.urls import mask_url, with_credentials
from streammm.stats import PipelineStats, SourceControl

log = logging.getLogger(__name__)
MAX_FILE_ATTEMPTS = 3
PublishFn = Callable[..., Awaitable[int]]


@dataclass
class SourceSpec:
    """One entry of a sources file: `id`, `url`, optional `username` / `password` (put into the URL, never
    logged) and `options` (ingest settings for this source alone, e.g. `rtsp_transport: udp`)."""

    stream_id: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)


def read_sources_file(path: str | Path) -> list[SourceSpec]:
    """The sources of a YAML file: a list (or `sources:` list) of {id, url, username, password, options}."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the sources file ({exc})") from None
    entries = data.get("sources") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a list of sources (each with id and url)")
    specs: list[SourceSpec] = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not entry.get("url"):
            raise ConfigError(f"{path}: source {n} has no url")
        unknown = set(entry) - {"id", "url", "username", "password", "options"}
        if unknown:
            raise ConfigError(f"{path}: source {n}: unknown keys {sorted(unknown)}")
        url = with_credentials(str(entry["url"]), entry.get("username"), entry.get("password"))
        from streammm.ingest.sources import checked_stream_id, stream_id_for

        stream_id = checked_stream_id(str(entry["id"]), f"{path}: source {n}") if entry.get("id") is not None else stream_id_for(url)[1]
        specs.append(SourceSpec(stream_id, url, dict(entry.get("options") or {})))
    if len({s.stream_id for s in specs}) != len(specs):
        raise ConfigError(f"{path}: two sources have the same id")
    return specs


def source_settings(settings: Settings, options: dict[str, Any]) -> Settings:
    """`settings` with one source's ingest options over the ingest section (validated)."""
    if not options:
        return settings
    ingest = type(settings.ingest).model_validate({**settings.ingest.model_dump(), **options})
    return settings.model_copy(update={"ingest": ingest})


class Sources(SourceControl):
    """Every source task of one `up`: started, supervised, stopped (its buffered media flushed first)."""

    def __init__(
        self,
        settings: Settings,
        *,
        producer: object,
        topics: Any,
        stats: PipelineStats,
        realtime: bool = False,
        spool: Spool | None = None,
        timeline_start: Callable[[str, str], float] = lambda source, stream_id: 0.0,
        publish_fn: PublishFn = publish,
    ) -> None:
        self.settings = settings
        self.producer = producer
        self.topics = topics
        self.stats = stats
        self.realtime = realtime
        self.spool = spool
        self.timeline_start = timeline_start
        self.publish_fn = publish_fn
        self.tasks: dict[str, asyncio.Task[int]] = {}
        self.stops: dict[str, threading.Event] = {}
        self.failed: dict[str, str] = {}  # stream id -> why it was given up, or why its publisher crashed
        self.closing = threading.Event()

    def start(self, source: str, stream_id: str, options: dict[str, Any] | None = None) -> asyncio.Task[int]:
        running = self.tasks.get(stream_id)
        if running is not None and not running.done():
            raise ConfigError(f"stream {stream_id!r} already has a source")
        stop = threading.Event()
        self.stops[stream_id] = stop
        self.stats.source_added(stream_id, mask_url(source), live=is_live(source))
        settings = source_settings(self.settings, options or {})
        task = asyncio.get_running_loop().create_task(self._supervise(source, stream_id, settings, stop), name=f"publish-{stream_id}")
        self.tasks[stream_id] = task
        return task

    # SourceControl, for the server's POST and DELETE /v1/streams (same event loop)
    def add(self, source: str, stream_id: str) -> None:
        if not is_live(source):
            raise ConfigError("only live sources (rtsp://, rtmp://, http(s):// playlists) can be added at run time")
        self.start(source, stream_id)

    def remove(self, stream_id: str) -> bool:
        """Stop a source: its buffered media is published (so its last clip has its words), then it ends."""
        task = self.tasks.get(stream_id)
        if task is None or task.done():
            return False
        log.info("stream %s: stopping its source", stream_id)
        self.stops[stream_id].set()
        return True

    def stop_all(self) -> None:
        self.closing.set()
        for stop in self.stops.values():
            stop.set()

    async def wait_stopped(self, timeout_s: float) -> None:
        """After stop_all: let each publisher send what it holds, then cancel what is still running."""
        running = [t for t in self.tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=timeout_s)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _supervise(self, source: str, stream_id: str, settings: Settings, stop: threading.Event) -> int:
        live = is_live(source)
        backoff_s, attempts, sent = 1.0, 0, 0
        start_s = self.timeline_start(source, stream_id)
        while True:
            attempts += 1
            try:
                sent += await self.publish_fn(
                    source, stream_id, producer=self.producer, topics=self.topics, settings=settings, realtime=self.realtime,
                    stats=self.stats, stop=stop, timeline_start_s=start_s, backpressure=True, spool=None if live else self.spool,
                )
                if not live:
                    self.stats.source_state(stream_id, "done" if sent else "failed", error=None if sent else "nothing could be published")
                return sent
            except asyncio.CancelledError:
                raise
            except MediaError as exc:  # the source's own failure: it was already retried where it is read
                reason = str(exc)
                log.error("stream %s: %s", stream_id, reason)
                self.stats.source_state(stream_id, "failed", error=reason)
                self.failed[stream_id] = reason
                return sent
            except Exception as exc:  # noqa: BLE001 (a bug: never silent, always retried)
                reason = f"{type(exc).__name__}: {mask_url(str(exc))}"[:300]
                self.failed[stream_id] = f"its publisher crashed ({reason})"
                gave_up = (not live and attempts >= MAX_FILE_ATTEMPTS) or stop.is_set() or self.closing.is_set()
                log.error(
                    "stream %s: the publisher of %s failed: %s; %s", stream_id, mask_url(source), reason,
                    "giving up" if gave_up else f"restarting it in {backoff_s:.0f} s", exc_info=exc,
                )
                self.stats.source_state(stream_id, "failed" if gave_up else "reconnecting", error=reason, crash=True)
                if gave_up:
                    return sent
                crashed_at = time.monotonic()
                await asyncio.to_thread(stop.wait, backoff_s)
                if stop.is_set():
                    self.stats.source_state(stream_id, "stopped")
                    return sent
                backoff_s = min(settings.ingest.max_backoff_s, backoff_s * 2)
                progress = self.stats.streams.get(stream_id)
                if live and progress is not None:  # continue the timeline on the wall clock: the lost seconds are a gap
                    start_s = max(start_s, progress.media_s_published + time.monotonic() - crashed_at)

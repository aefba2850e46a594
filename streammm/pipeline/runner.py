"""The pipeline's workers: each kind against a broker, sharing models, a store and an inference pool."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from streammm.bus.codec import CodecError, decode_heartbeat
from streammm.bus.kafka import ensure_topics, follow_topic, run_worker
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.errors import ConfigError
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.pipeline.align import AlignHandler
from streammm.pipeline.perceive import HANDLERS
from streammm.stats import PipelineStats
from streammm.store.base import ClipStore
from streammm.store.factory import data_dir, open_store

log = logging.getLogger(__name__)
KINDS = ("vision", "speech", "ocr", "perceive", "align")  # `streammm worker KIND`
# `streammm up`. `perceive` (vision and OCR on one decode) is not its default yet: with it the dev set's
# across-streams hybrid hit@1 fell from 18 to 17 of 24 in one run, not yet understood.
UP_KINDS = ("vision", "speech", "ocr", "align")
# what a worker kind heartbeats as: the modalities it reports
ROLES = {"vision": ("visual",), "speech": ("speech",), "ocr": ("ocr",), "perceive": ("visual", "ocr"), "align": ("align",)}


@dataclass
class Pipeline:
    """What the workers of one process share: settings, models, the store, the broker's address."""

    settings: Settings
    bootstrap_servers: str
    topics: Topics
    models: Models
    pool: InferencePool
    stats: PipelineStats = field(default_factory=PipelineStats)
    store: ClipStore | None = None

    def worker(self, kind: str, stop: asyncio.Event, replica: int = 0) -> asyncio.Task[None]:
        prefix = self.settings.kafka.topic_prefix
        if kind == "align":
            if self.store is None:
                raise ConfigError("the align worker needs a clip store")
            handler = AlignHandler(
                self.settings, self.models.embedder, self.store, self.topics, self.pool,
                thumbnails_dir=data_dir(self.settings) / "thumbnails", stats=self.stats,
            )
            topics_in: Sequence[str] = (self.topics.vision, self.topics.speech, self.topics.ocr)
        else:
            handler = HANDLERS[kind](self.settings, self.models, self.topics, self.pool)
            topics_in = (self.topics.segments,)
        coroutine = run_worker(
            config=self.settings.kafka, bootstrap_servers=self.bootstrap_servers, topics_in=topics_in,
            group_id=f"{prefix}-{kind}", handler=handler, dlq_topic=self.topics.dlq, stop=stop, name=f"{kind}-{replica}",
            heartbeat_topic=self.topics.heartbeats, roles=ROLES[kind],
        )
        if kind == "align":
            coroutine = _with_liveness(coroutine, self, stop)
        return asyncio.create_task(coroutine, name=f"{kind}-{replica}")


async def _with_liveness(worker: Awaitable[None], pipeline: Pipeline, stop: asyncio.Event) -> None:
    """Run the align worker while following every worker's heartbeats into the pipeline's stats: what
    tells a modality that is behind (its workers report lag) from one that is dead (none reports)."""
    follower = asyncio.create_task(_follow_heartbeats(pipeline, stop))
    try:
        await worker
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def _follow_heartbeats(pipeline: Pipeline, stop: asyncio.Event) -> None:
    async for value in follow_topic(pipeline.settings.kafka, pipeline.bootstrap_servers, pipeline.topics.heartbeats, stop):
        try:
            beat = decode_heartbeat(value)
        except CodecError as exc:
            log.debug("ignoring a malformed heartbeat: %s", exc)
            continue
        pipeline.stats.heartbeat(beat.role, beat.worker, beat.sent_at, beat.lag)


async def open_pipeline(settings: Settings, bootstrap_servers: str, kinds: Sequence[str]) -> Pipeline:
    topics = await ensure_topics(settings.kafka, bootstrap_servers)
    models = Models(settings.models)
    needs = set(kinds)
    if needs & {"vision", "perceive", "align"}:
        await asyncio.to_thread(lambda: models.embedder)
    if "speech" in needs:
        await asyncio.to_thread(lambda: models.transcriber)
    if needs & {"ocr", "perceive"}:
        await asyncio.to_thread(lambda: models.ocr_engine)
    pipeline = Pipeline(settings, bootstrap_servers, topics, models, InferencePool(settings.models.threads))
    if "align" in needs:
        pipeline.store = await asyncio.to_thread(open_store, settings, models.embedder.text.dim)
    return pipeline


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass


async def run_workers(settings: Settings, kind: str, replicas: int) -> int:
    """`streammm worker KIND`: `replicas` consumers of one group in this process, until a signal."""
    if not settings.kafka.bootstrap_servers:
        raise ConfigError("workers need a broker: set kafka.bootstrap_servers (STREAMMM_KAFKA__BOOTSTRAP_SERVERS)")
    stop = asyncio.Event()
    install_stop_signals(stop)
    pipeline = await open_pipeline(settings, settings.kafka.bootstrap_servers, [kind])
    tasks = [pipeline.worker(kind, stop, i) for i in range(replicas)]
    try:
        await until_stopped(stop, tasks)
    finally:
        await shutdown(stop, tasks, pipeline)
    return 0


async def until_stopped(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in done:
        if task is not waiter and task.exception():
            raise task.exception()  # type: ignore[misc]


async def shutdown(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]], pipeline: Pipeline | None) -> None:
    stop.set()
    if tasks:
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("worker ended with an error: %s", result)
    if pipeline is not None:
        pipeline.pool.close()
        if pipeline.store is not None:
            pipeline.store.close()



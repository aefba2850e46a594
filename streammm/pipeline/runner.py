"""Run the pipeline: workers of each kind against a broker, and `up` (everything in one process)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading

from collections.abc import Sequence
from dataclasses import dataclass, field


from streammm.bus.broker import EmbeddedBroker
from streammm.bus.kafka import ensure_topics, run_worker, start_producer
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.errors import ConfigError
from streammm.ingest.publisher import publish
from streammm.ingest.sources import is_live
from streammm.models.runtime import InferencePool
from streammm.perception import Perceiver
from streammm.pipeline.align import AlignHandler
from streammm.pipeline.perceive import HANDLERS
from streammm.pipeline.stats import PipelineStats
from streammm.store.base import ClipStore
from streammm.store.factory import data_dir, open_store
from streammm.store.media import register_media

log = logging.getLogger(__name__)
KINDS = ("vision", "speech", "ocr", "align")


@dataclass
class Pipeline:
    """What the workers of one process share: settings, models, the store, the broker's address."""

    settings: Settings
    bootstrap_servers: str
    topics: Topics
    perceiver: Perceiver
    pool: InferencePool
    stats: PipelineStats = field(default_factory=PipelineStats)
    store: ClipStore | None = None

    def worker(self, kind: str, stop: asyncio.Event, replica: int = 0) -> asyncio.Task[None]:
        prefix = self.settings.kafka.topic_prefix
        if kind == "align":
            if self.store is None:
                raise ConfigError("the align worker needs a clip store")
            handler = AlignHandler(
                self.settings, self.perceiver.embedder, self.store, self.topics, self.pool,
                thumbnails_dir=data_dir(self.settings) / "thumbnails", stats=self.stats,
            )
            topics_in: Sequence[str] = (self.topics.vision, self.topics.speech, self.topics.ocr)
        else:
            handler = HANDLERS[kind](self.settings, self.perceiver, self.topics, self.pool)
            topics_in = (self.topics.segments,)
        coroutine = run_worker(
            config=self.settings.kafka, bootstrap_servers=self.bootstrap_servers, topics_in=topics_in,
            group_id=f"{prefix}-{kind}", handler=handler, dlq_topic=self.topics.dlq, stop=stop, name=f"{kind}-{replica}",
        )
        return asyncio.create_task(coroutine, name=f"{kind}-{replica}")


async def open_pipeline(settings: Settings, bootstrap_servers: str, kinds: Sequence[str]) -> Pipeline:
    topics = await ensure_topics(settings.kafka, bootstrap_servers)
    perceiver = Perceiver(settings)
    needs = set(kinds)
    if needs & {"vision", "align"}:
        await asyncio.to_thread(lambda: perceiver.embedder)
    if "speech" in needs:
        await asyncio.to_thread(lambda: perceiver.transcriber)
    if "ocr" in needs:
        await asyncio.to_thread(lambda: perceiver.ocr_engine)
    pipeline = Pipeline(settings, bootstrap_servers, topics, perceiver, InferencePool(settings.models.threads))
    if "align" in needs:
        pipeline.store = await asyncio.to_thread(open_store, settings, perceiver.embedder.text.dim)
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
        await _until_stopped(stop, tasks)
    finally:
        await _shutdown(stop, tasks, pipeline)
    return 0


async def run_up(
    settings: Settings,
    inputs: Sequence[tuple[str, str]],
    *,
    once: bool,
    realtime: bool = False,
    stats: PipelineStats | None = None,
    serve: bool = False,
) -> int:
    """`streammm up`: broker (unless configured), every worker, the store, the server (when `serve`);
    ingest `inputs` (source, stream id)."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    broker = None
    bootstrap = settings.kafka.bootstrap_servers
    if not bootstrap:
        log_file = data_dir(settings) / "broker.log"
        broker = await asyncio.to_thread(EmbeddedBroker(log_file=log_file).start)
        bootstrap = broker.bootstrap_servers
    pipeline: Pipeline | None = None
    tasks: list[asyncio.Task[None]] = []
    exit_code = 0
    publish_stop = threading.Event()
    try:
        pipeline = await open_pipeline(settings, bootstrap, KINDS)
        if stats is not None:
            pipeline.stats = stats
        tasks = [pipeline.worker(kind, stop) for kind in KINDS]
        for source, stream_id in inputs:
            if not is_live(source):
                register_media(data_dir(settings), stream_id, source)
        if serve:
            tasks.append(asyncio.create_task(_serve(pipeline, stop), name="server"))
        producer = await start_producer(settings.kafka, bootstrap)
        try:
            publishers = [
                asyncio.create_task(
                    publish(source, stream_id, producer=producer, topics=pipeline.topics, settings=settings,
                            realtime=realtime, stats=pipeline.stats, stop=publish_stop),
                    name=f"publish-{stream_id}",
                )
                for source, stream_id in inputs
            ]
            status = asyncio.create_task(_show_status(pipeline.stats, stop))
            if once:
                failed = await _until_indexed(stop, tasks, publishers, pipeline.stats, [sid for _, sid in inputs])
                for task, (source, stream_id) in zip(publishers, inputs):
                    if stream_id in failed:
                        reason = task.exception() if task.done() and task.exception() else "nothing could be published"
                        log.error("input %s (stream %s) was not indexed: %s", source, stream_id, reason)
                exit_code = 1 if failed else 0
            else:
                await _until_stopped(stop, tasks)
            status.cancel()
            publish_stop.set()
            for task in publishers:
                task.cancel()
            await asyncio.gather(*publishers, return_exceptions=True)
        finally:
            await producer.stop()
        for line in pipeline.stats.lines():
            print(line, file=sys.stderr)
    finally:
        publish_stop.set()
        await _shutdown(stop, tasks, pipeline)
        if broker is not None:
            await asyncio.to_thread(broker.stop)
    return exit_code


async def _serve(pipeline: Pipeline, stop: asyncio.Event) -> None:
    from streammm.server.run import kafka_clip_feed, serve

    assert pipeline.store is not None
    await serve(
        pipeline.settings, pipeline.store, pipeline.perceiver.embedder.text, data_dir=data_dir(pipeline.settings),
        clip_feed=kafka_clip_feed(pipeline.settings, pipeline.bootstrap_servers), stats=pipeline.stats, stop=stop,
    )


async def _until_stopped(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in done:
        if task is not waiter and task.exception():
            raise task.exception()  # type: ignore[misc]


async def _until_indexed(stop, tasks, publishers, stats: PipelineStats, stream_ids: list[str]) -> list[str]:
    """Wait until every input's last clip is stored (or a worker fails, or a signal arrives).

    Returns the stream ids whose input could not be read; the other inputs are still indexed.
    """
    failed: list[str] = []
    while not stop.is_set():
        for task in tasks:
            if task.done() and task.exception():
                raise task.exception()  # type: ignore[misc]
        failed = []
        for task, stream_id in zip(publishers, stream_ids):
            if task.done() and (task.exception() is not None or task.result() == 0):
                failed.append(stream_id)
        waiting = [
            sid for task, sid in zip(publishers, stream_ids)
            if sid not in failed and not (task.done() and stats.streams.get(sid) is not None and stats.streams[sid].finished)
        ]
        if not waiting:
            return failed
        await asyncio.sleep(0.2)
    return failed


async def _show_status(stats: PipelineStats, stop: asyncio.Event, every_s: float = 5.0) -> None:
    previous: list[str] = []
    while not stop.is_set():
        await asyncio.sleep(every_s)
        lines = stats.lines()
        if lines != previous:  # quiet while nothing changes (an idle server)
            for line in lines:
                log.info("%s", line)
            previous = lines


async def _shutdown(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]], pipeline: Pipeline | None) -> None:
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



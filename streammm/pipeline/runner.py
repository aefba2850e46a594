"""Run the pipeline: workers of each kind against a broker, and `up` (everything in one process)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from streammm.bus.broker import EmbeddedBroker, advertise_broker
from streammm.bus.codec import CodecError, decode_heartbeat
from streammm.bus.kafka import ensure_topics, follow_topic, run_worker, start_producer
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.errors import ConfigError
from streammm.ingest.publisher import publish
from streammm.ingest.sources import is_live
from streammm.ingest.spool import Spool
from streammm.ingest.timeline import resume_point
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.pipeline.align import AlignHandler
from streammm.pipeline.dead_letters import archive_dead_letters, archive_folder
from streammm.pipeline.perceive import HANDLERS
from streammm.stats import PipelineStats
from streammm.store.base import ClipStore
from streammm.store.factory import data_dir, open_store
from streammm.store.media import register_media

log = logging.getLogger(__name__)
KINDS = ("vision", "speech", "ocr", "align")
ROLES = {"vision": "visual", "speech": "speech", "ocr": "ocr", "align": "align"}  # what a worker kind heartbeats as


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
            heartbeat_topic=self.topics.heartbeats, role=ROLES[kind],
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
    if needs & {"vision", "align"}:
        await asyncio.to_thread(lambda: models.embedder)
    if "speech" in needs:
        await asyncio.to_thread(lambda: models.transcriber)
    if "ocr" in needs:
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
    root = data_dir(settings)
    advertised = advertise_broker(root, bootstrap)  # `streammm publish` and `streammm dlq` find this broker
    # The embedded broker holds every message in memory while it runs: files' media waits on disk instead.
    spool = Spool(root / "spool") if broker is not None else None
    if spool is not None:
        spool.clear()  # left by an `up` that was killed: its broker, and every reference, is gone
    try:
        pipeline = await open_pipeline(settings, bootstrap, KINDS)
        if stats is not None:
            pipeline.stats = stats
        # Dead letters outlive the embedded broker: each is archived in the data dir (`streammm dlq`).
        tasks = [asyncio.create_task(archive_dead_letters(settings.kafka, bootstrap, pipeline.topics.dlq, archive_folder(root), stop))]
        tasks += [pipeline.worker(kind, stop) for kind in KINDS]
        for source, stream_id in inputs:
            if not is_live(source):
                register_media(root, stream_id, source)
        if serve:
            tasks.append(asyncio.create_task(_serve(pipeline, stop), name="server"))
        producer = await start_producer(settings.kafka, bootstrap)
        try:
            publishers = [
                asyncio.create_task(
                    publish(source, stream_id, producer=producer, topics=pipeline.topics, settings=settings,
                            realtime=realtime, stats=pipeline.stats, stop=publish_stop,
                            timeline_start_s=_timeline_start(pipeline, source, stream_id), backpressure=True,
                            spool=None if is_live(source) else spool),
                    name=f"publish-{stream_id}",
                )
                for source, stream_id in inputs
            ]
            status = asyncio.create_task(_show_status(pipeline.stats, stop, settings.align.dead_after_s, spool))
            if once:
                failed, incomplete = await _until_indexed(stop, tasks, publishers, pipeline.stats, [sid for _, sid in inputs], settings)
                for task, (source, stream_id) in zip(publishers, inputs):
                    if stream_id in failed:
                        reason = task.exception() if task.done() and task.exception() else "nothing could be published"
                        log.error("input %s (stream %s) was not indexed: %s", source, stream_id, reason)
                for stream_id, why in incomplete.items():
                    log.error("stream %s: clips stay incomplete: %s", stream_id, why)
                exit_code = 1 if failed or incomplete else 0
            else:
                await _until_stopped(stop, tasks)
            status.cancel()
            publish_stop.set()
            for task in publishers:
                task.cancel()
            await asyncio.gather(*publishers, return_exceptions=True)
        finally:
            await producer.stop()
        for line in pipeline.stats.lines(dead_after_s=settings.align.dead_after_s):
            print(line, file=sys.stderr)
    finally:
        publish_stop.set()
        await _shutdown(stop, tasks, pipeline)
        advertised.unlink(missing_ok=True)
        if spool is not None:
            spool.clear()
        if broker is not None:
            await asyncio.to_thread(broker.stop)
    return exit_code


def _timeline_start(pipeline: Pipeline, source: str, stream_id: str) -> float:
    """A live source continues its stream's timeline after the stored clips; a file starts at 0."""
    if not is_live(source) or pipeline.store is None:
        return 0.0
    return resume_point(pipeline.store, stream_id, pipeline.settings.align.stride_s)


async def _serve(pipeline: Pipeline, stop: asyncio.Event) -> None:
    from streammm.server.run import kafka_clip_feed, serve

    assert pipeline.store is not None
    await serve(
        pipeline.settings, pipeline.store, pipeline.models.embedder.text, data_dir=data_dir(pipeline.settings),
        clip_feed=kafka_clip_feed(pipeline.settings, pipeline.bootstrap_servers), stats=pipeline.stats, stop=stop,
    )


async def _until_stopped(stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in done:
        if task is not waiter and task.exception():
            raise task.exception()  # type: ignore[misc]


async def _until_indexed(
    stop: asyncio.Event,
    tasks: Sequence[asyncio.Task[None]],
    publishers: Sequence[asyncio.Task[int]],
    stats: PipelineStats,
    stream_ids: list[str],
    settings: Settings,
) -> tuple[list[str], dict[str, str]]:
    """Wait until every input's clips are all stored and complete (or a worker fails, or a signal arrives).

    A modality that is behind is waited for, however long. A stream stops being waited for only when a
    modality its clips still lack is really gone: no worker of it has sent a heartbeat for
    `align.dead_after_s`, or its workers and the aligner have all been idle that long (its evidence was
    lost). Returns the streams whose input could not be read, and the incomplete ones with the reason.
    """
    dead_after_s = settings.align.dead_after_s
    stuck_since: dict[str, float] = {}
    failed: list[str] = []
    incomplete: dict[str, str] = {}
    while not stop.is_set():
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]
        failed = [sid for task, sid in zip(publishers, stream_ids) if task.done() and (task.exception() is not None or task.result() == 0)]
        now = time.time()
        waiting = []
        for task, sid in zip(publishers, stream_ids):
            progress = stats.streams.get(sid)
            if sid in failed or sid in incomplete or (task.done() and progress is not None and progress.finished):
                continue
            waiting.append(sid)
            why = _gone(stats, sid, task.done(), dead_after_s, now) if progress is not None else None
            if why is None:
                stuck_since.pop(sid, None)
            elif now - stuck_since.setdefault(sid, now) >= dead_after_s:
                incomplete[sid] = why
        if not [sid for sid in waiting if sid not in incomplete]:
            return failed, incomplete
        await asyncio.sleep(0.2)
    return failed, incomplete


def _gone(stats: PipelineStats, stream_id: str, published: bool, dead_after_s: float, now: float) -> str | None:
    """Why the stream's pending modalities will never report, or None while any of them may."""
    progress = stats.streams[stream_id]
    if not published or not progress.pending:
        return None
    reasons = []
    for modality, since_s in sorted(progress.pending.items()):
        state = stats.liveness(modality, dead_after_s=dead_after_s, now=now)
        aligner = stats.liveness("align", dead_after_s=dead_after_s, now=now)
        if state == "dead":
            reasons.append(f"{modality} from {since_s:.0f} s on (no {modality} worker heartbeat for {dead_after_s:.0f} s)")
        elif state == "idle" and aligner == "idle":
            reasons.append(f"{modality} from {since_s:.0f} s on (its workers and the aligner are idle: the evidence was lost)")
        else:
            return None
    return "; ".join(reasons)


async def _show_status(stats: PipelineStats, stop: asyncio.Event, dead_after_s: float, spool: Spool | None, every_s: float = 5.0) -> None:
    """Log each stream's progress when it changes; drop the spooled media of streams whose clips are complete."""
    previous: list[str] = []
    while not stop.is_set():
        await asyncio.sleep(every_s)
        if spool is not None:
            for stream_id in stats.finished_streams():
                await asyncio.to_thread(spool.discard, stream_id)
        lines = stats.lines(dead_after_s=dead_after_s)
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



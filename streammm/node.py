"""The composition root of `streammm up`: the broker, every worker, the publishers and the server of one
process, wired together. Nothing below this module knows about the others."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence

from streammm.bus.broker import EmbeddedBroker, advertise_broker
from streammm.bus.clip_feed import kafka_clip_feed
from streammm.bus.kafka import start_producer
from streammm.config import Settings
from streammm.ingest.sources import is_live
from streammm.ingest.supervisor import SourceSpec, Sources
from streammm.ingest.spool import Spool
from streammm.ingest.timeline import resume_point
from streammm.media.urls import mask_url
from streammm.models.registry import create_question_encoder
from streammm.pipeline.dead_letters import archive_dead_letters, archive_folder
from streammm.pipeline.runner import UP_KINDS, Pipeline, install_stop_signals, open_pipeline, shutdown, until_stopped
from streammm.server.run import serve as serve_http
from streammm.stats import PipelineStats
from streammm.store.factory import data_dir
from streammm.store.media import register_media

log = logging.getLogger(__name__)


async def run_up(
    settings: Settings,
    inputs: Sequence[tuple[str, str]],
    *,
    once: bool,
    realtime: bool = False,
    stats: PipelineStats | None = None,
    serve: bool = False,
    failures: dict[str, str] | None = None,
    specs: Sequence[SourceSpec] = (),
) -> int:
    """`streammm up`: broker (unless configured), every worker, the store, the server (when `serve`);
    ingest `inputs` (source, stream id) and the sources of a sources file (`specs`), each supervised
    (ingest/supervisor.py); more can be added and stopped while it runs (POST / DELETE /v1/streams).

    With `once`, an input that cannot be indexed does not stop the others: each failed stream is logged
    with its reason (and put in `failures`, stream id -> reason), and the exit code is 1."""
    failures = {} if failures is None else failures
    settings = settings.model_copy(update={"models": settings.models.sharing_cores()})  # every worker in one process
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
    root = data_dir(settings)
    advertised = advertise_broker(root, bootstrap)  # `streammm publish` and `streammm dlq` find this broker
    # The embedded broker holds every message in memory while it runs: files' media waits on disk instead.
    spool = Spool(root / "spool") if broker is not None else None
    if spool is not None:
        spool.clear()  # left by an `up` that was killed: its broker, and every reference, is gone
    try:
        pipeline = await open_pipeline(settings, bootstrap, UP_KINDS)
        if stats is not None:
            pipeline.stats = stats
        # Dead letters outlive the embedded broker: each is archived in the data dir (`streammm dlq`).
        tasks = [asyncio.create_task(archive_dead_letters(settings.kafka, bootstrap, pipeline.topics.dlq, archive_folder(root), stop))]
        tasks += [pipeline.worker(kind, stop) for kind in UP_KINDS]
        for source, stream_id in inputs:
            if not is_live(source):
                register_media(root, stream_id, source)
        if serve:
            tasks.append(asyncio.create_task(_serve(pipeline, stop), name="server"))
        producer = await start_producer(settings.kafka, bootstrap)
        sources = Sources(
            settings, producer=producer, topics=pipeline.topics, stats=pipeline.stats, realtime=realtime, spool=spool,
            timeline_start=lambda source, stream_id: _timeline_start(pipeline, source, stream_id),  # type: ignore[arg-type]
        )
        pipeline.stats.control = sources  # the server's POST / DELETE /v1/streams
        try:
            publishers = [sources.start(source, stream_id) for source, stream_id in inputs]
            publishers += [sources.start(spec.url, spec.stream_id, spec.options) for spec in specs]
            inputs = [*inputs, *((spec.url, spec.stream_id) for spec in specs)]
            status = asyncio.create_task(_show_status(pipeline.stats, stop, settings.align.dead_after_s, spool))
            if once:
                failed, incomplete = await _until_indexed(stop, tasks, publishers, pipeline.stats, [sid for _, sid in inputs], settings)
                interrupted = stop.is_set()  # a signal before every clip was stored: never a success
                for source, stream_id in inputs:
                    if stream_id in failed or stream_id in sources.failed:
                        reason = sources.failed.get(stream_id, "nothing could be published")
                        failures[stream_id] = reason
                        log.error("input %s (stream %s) was not indexed: %s", mask_url(source), stream_id, reason)
                for stream_id, why in incomplete.items():
                    failures[stream_id] = f"clips stay incomplete: {why}"
                    log.error("stream %s: clips stay incomplete: %s", stream_id, why)
                if failures:
                    print(f"indexed {len(inputs) - len(failures)} of {len(inputs)} inputs; not indexed:", file=sys.stderr)
                    for stream_id, why in failures.items():
                        print(f"  {stream_id}: {why}", file=sys.stderr)
                exit_code = 1 if failures else 0
                if interrupted:
                    print("streammm: interrupted before every clip was stored", file=sys.stderr)
                    exit_code = 130
            else:
                await until_stopped(stop, tasks)
            status.cancel()
            sources.stop_all()
            # Live sources give out the media they hold (a last segment, so buffered speech is flushed).
            await sources.wait_stopped(timeout_s=min(10.0, settings.ingest.read_timeout_s))
        finally:
            pipeline.stats.control = None
            sources.stop_all()
            for task in sources.tasks.values():
                task.cancel()  # those that did not stop in time (none on the way out above)
            await asyncio.gather(*sources.tasks.values(), return_exceptions=True)
            await producer.stop()
        for line in pipeline.stats.lines(dead_after_s=settings.align.dead_after_s):
            print(line, file=sys.stderr)
    finally:
        await shutdown(stop, tasks, pipeline)
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
    assert pipeline.store is not None
    feed = kafka_clip_feed(pipeline.settings.kafka, pipeline.bootstrap_servers, pipeline.topics.clips)
    questions = await asyncio.to_thread(create_question_encoder, pipeline.settings.models)
    await serve_http(
        pipeline.settings, pipeline.store, questions, data_dir=data_dir(pipeline.settings),
        clip_feed=feed, stats=pipeline.stats, stop=stop,
    )


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

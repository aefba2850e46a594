"""The `streammm` command line: one subcommand per job, each a thin layer over the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from streammm import __version__
from streammm.config import STRATEGIES, Settings, load_settings
from streammm.errors import StreammmError
from streammm.logs import setup_logging
from streammm.server.auth import check_exposure

log = logging.getLogger("streammm")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streammm", description="Streaming video understanding server.")
    parser.add_argument("--version", action="version", version=f"streammm {__version__}")
    parser.add_argument("--config", metavar="FILE", help="YAML settings file (over configs/default.yaml)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="run models on this device")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    inspect = commands.add_parser("inspect", help="print a video's timeline: words, on-screen text, frame tags")
    inspect.add_argument("video", help="a video (or audio) file")
    inspect.add_argument("--json", action="store_true", help="print one JSON document")
    inspect.add_argument("--profile", choices=["bundled", "clip"], help="embedding profile for the frame tags")
    inspect.set_defaults(run=_cmd_inspect)

    config = commands.add_parser("config", help="configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser("show", help="print the effective settings (secrets masked)")
    show.set_defaults(run=_cmd_config_show)

    up = commands.add_parser("up", help="run everything in one process: broker, workers, store; ingest inputs")
    up.add_argument("--ingest", nargs="+", action="extend", default=[], metavar="PATH_OR_URL", help="sources to ingest; PATH=ID names the stream")
    up.add_argument("--data-dir", help="where the store and thumbnails live (default ./streammm-data)")
    up.add_argument("--sources", metavar="FILE", help="a YAML list of live sources (id, url, username, password, options)")
    up.add_argument("--once", action="store_true", help="index the inputs, wait until every clip is stored, exit 0")
    up.add_argument("--realtime", action="store_true", help="feed files at wall-clock pace (a live simulation)")
    up.add_argument("--host", help="server address (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="server port (default 8000; 0 picks a free one)")
    up.add_argument("--no-server", action="store_true", help="run the pipeline without the web/websocket server")
    up.add_argument("--insecure", action="store_true", help="allow auth.enabled: false on an address beyond loopback")
    up.set_defaults(run=_cmd_up)

    serve = commands.add_parser("serve", help="serve the web page, websocket Q&A and search API over a store")
    serve.add_argument("--data-dir", help="the store to serve (default ./streammm-data)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; anything else turns auth on)")
    serve.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--insecure", action="store_true", help="allow auth.enabled: false on an address beyond loopback")
    serve.set_defaults(run=_cmd_serve)

    ask = commands.add_parser("ask", help="ask a running server a question; prints the streamed answer and citations")
    ask.add_argument("question")
    ask.add_argument("--url", default="ws://127.0.0.1:8000/v1/ws", help="the server's websocket (default %(default)s)")
    ask.add_argument("--stream", action="append", help="only these streams (repeatable)")
    ask.add_argument("--strategy", choices=STRATEGIES)
    ask.add_argument("--k", type=int, help="how many moments to retrieve")
    ask.add_argument("--token", help="bearer token (default $STREAMMM_TOKEN)")
    ask.add_argument("--json", action="store_true", help="print the moments and the answer as one JSON document")
    ask.set_defaults(run=_cmd_ask)

    pub = commands.add_parser("publish", help="feed a file, RTSP URL or HLS playlist into the segments topic")
    pub.add_argument("source", help="a media file or a live URL")
    pub.add_argument("--stream", required=True, help="stream id")
    pub.add_argument("--realtime", action="store_true", help="send each segment when its time has come")
    pub.add_argument("--data-dir", help="a running `streammm up`'s data dir: its broker, and the stored clips a live stream continues after")
    pub.set_defaults(run=_cmd_publish)

    worker = commands.add_parser("worker", help="run one kind of pipeline worker against kafka.bootstrap_servers")
    worker.add_argument("kind", choices=["vision", "speech", "ocr", "perceive", "align"], help="perceive: vision and OCR on one decode")
    worker.add_argument("--replicas", type=int, default=1, help="consumers of the same group in this process")
    worker.add_argument("--data-dir", help="the align worker's store and thumbnails")
    worker.set_defaults(run=_cmd_worker)

    from streammm.dlq_cli import add_dlq_parser

    add_dlq_parser(commands)

    search = commands.add_parser("search", help="find the best moments for a query")
    search.add_argument("query")
    search.add_argument("--data-dir", help="the store to search (default ./streammm-data)")
    search.add_argument("--stream", action="append", help="only these streams (repeatable)")
    search.add_argument("--strategy", default="hybrid", choices=STRATEGIES)
    search.add_argument("--k", type=int, default=5, help="how many moments (1-100)")
    search.add_argument("--json", action="store_true", help="print a JSON list")
    search.set_defaults(run=_cmd_search)

    from streammm.eval.cli import add_eval_parser

    add_eval_parser(commands)

    bench = commands.add_parser("bench", help="measure speed (prints numbers; not a test)")
    bench.add_argument(
        "what", nargs="?", default="all", choices=["all", "perception", "pipeline", "query"],
        help="what to measure (default: all three, written to one JSON and one Markdown file)",
    )
    bench.add_argument(
        "--media", nargs="*",
        help="media files (default: the shared dev videos); the word text-heavy makes a video of slides and scrolling credits for the run",
    )
    bench.add_argument("--text-heavy-s", type=float, default=120.0, metavar="SECONDS", help="length of the text-heavy video (default 120)")
    bench.add_argument("--streams", nargs="*", type=int, help="pipeline: concurrent stream counts to try (default 1 2 3; --rtsp: 1 3)")
    bench.add_argument("--rtsp", action="store_true", help="pipeline: live RTSP streams from a local gst-rtsp-server instead of files")
    bench.add_argument("--sizes", nargs="*", type=int, default=[10_000, 100_000], help="query: synthetic clips in the store")
    bench.add_argument("--clients", nargs="*", type=int, default=[1, 20], help="query: concurrent websocket clients")
    bench.add_argument("--json", metavar="OUT", help="write the results as JSON here (all: default bench-results/bench.json)")
    bench.add_argument("--markdown", metavar="OUT", help="all: write the tables here (default bench-results/bench.md)")
    bench.set_defaults(run=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            args.config,
            overrides={
                "log.level": args.log_level,
                "models.device": args.device,
                "models.embedding.profile": getattr(args, "profile", None),
                "store.data_dir": getattr(args, "data_dir", None),
                "server.host": getattr(args, "host", None),
                "server.port": getattr(args, "port", None),
                "server.insecure": True if getattr(args, "insecure", False) else None,
            },
        )
        if args.run in (_cmd_up, _cmd_serve) and not getattr(args, "no_server", False):
            check_exposure(settings.auth, settings.server.host, insecure=settings.server.insecure)  # before any model loads
        setup_logging(settings.log)
        run: Callable[[argparse.Namespace, Settings], int] = args.run
        return run(args, settings)
    except StreammmError as exc:
        print(f"streammm: error: {exc}", file=sys.stderr)
        return 2 if not exc.retriable else 75  # 75 = EX_TEMPFAIL: trying again may help
    except KeyboardInterrupt:
        print("streammm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `streammm ask ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _cmd_config_show(args: argparse.Namespace, settings: Settings) -> int:
    import yaml

    print(yaml.safe_dump(settings.public_dict(), sort_keys=False), end="")
    return 0


def _cmd_inspect(args: argparse.Namespace, settings: Settings) -> int:
    from streammm.media.probe import probe
    from streammm.perception import FilePerceiver
    from streammm.progress import media_progress

    info = probe(args.video, max_file_mb=settings.media.max_file_mb)  # fail fast, before loading models
    perceiver = FilePerceiver(settings)
    with media_progress(info.duration_s, desc="inspect") as advance:
        timeline, _ = perceiver.perceive_file(args.video, progress=advance)
    if args.json:
        json.dump(timeline.to_json(), sys.stdout, ensure_ascii=False)
        print()
    else:
        _print_timeline(timeline.to_json())
    return 0


def _print_timeline(doc: dict[str, Any]) -> None:
    print(f"{doc['media']}  ({doc['duration_s']:.2f} s)")
    print("\nwords:")
    for w in doc["words"] or [{"start_s": None}]:
        print(f"  {_mmss(w['start_s'])}-{_mmss(w['end_s'])}  {w['text']}" if w["start_s"] is not None else "  (none)")
    print("\non-screen text:")
    for o in doc["ocr"] or [{"start_s": None}]:
        pressed = "".join(f"  (pressed {_mmss(a)}-{_mmss(b)})" for a, b in o.get("pressed", ()))
        print(f"  {_mmss(o['start_s'])}-{_mmss(o['end_s'])}  {o['text']}{pressed}" if o["start_s"] is not None else "  (none)")
    print("\nframes:")
    for f in doc["frames"] or [{"t_s": None}]:
        print(f"  {_mmss(f['t_s'])}  {', '.join(f['tags']) or '-'}" if f["t_s"] is not None else "  (none)")


def _mmss(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{rest:05.2f}"


def _cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from streammm.ingest.sources import is_live, stream_id_for
    from streammm.media.probe import check_file
    from streammm.node import run_up

    from streammm.ingest.supervisor import read_sources_file

    inputs = [stream_id_for(source) for source in args.ingest]
    for source, _ in inputs:
        if not is_live(source):
            check_file(source, max_file_mb=settings.media.max_file_mb)  # a missing or empty file: fail at once
    specs = read_sources_file(args.sources) if args.sources else []
    if args.once and not (inputs or specs):
        print("streammm: error: --once needs at least one --ingest input", file=sys.stderr)
        return 2
    serve = not (args.once or args.no_server)
    return asyncio.run(run_up(settings, inputs, once=args.once, realtime=args.realtime, serve=serve, specs=specs))


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from streammm.models.registry import create_question_encoder
    from streammm.models.runtime import configure_threads
    from streammm.bus.clip_feed import kafka_clip_feed
    from streammm.bus.topics import Topics
    from streammm.server.run import serve
    from streammm.store.factory import data_dir, open_store

    configure_threads(1)  # requests run side by side; one torch thread each keeps encoding time steady
    # Likewise one ONNX Runtime thread a question unless models.op_threads says otherwise: alone a question
    # takes as long on one thread as on two (3.3 ms), with 30 % less CPU, and two at once encode 20 % more
    # questions a second; 20 clients at 100k clips got 13-45 % more answers (README "Results", library scale).
    encoder = create_question_encoder(settings.models.one_thread_a_call())
    store = open_store(settings, encoder.dim)
    bootstrap = settings.kafka.bootstrap_servers
    feed = kafka_clip_feed(settings.kafka, bootstrap, Topics.from_config(settings.kafka).clips) if bootstrap else None
    if feed is None:
        print("streammm: no kafka.bootstrap_servers: serving stored clips only (watches are unavailable)", file=sys.stderr)
    try:
        asyncio.run(serve(settings, store, encoder, data_dir=data_dir(settings), clip_feed=feed))
    finally:
        store.close()
    return 0


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import os

    from streammm.client import ask

    token = args.token or os.environ.get("STREAMMM_TOKEN")
    asyncio.run(ask(args.url, args.question, streams=args.stream, k=args.k, strategy=args.strategy, token=token, as_json=args.json))
    return 0


def _cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from streammm.bus.kafka import ensure_topics, start_producer
    from streammm.errors import ConfigError
    from streammm.ingest.publisher import publish
    from streammm.stats import PipelineStats

    from streammm.bus.broker import running_broker
    from streammm.ingest.sources import is_live
    from streammm.ingest.timeline import resume_point
    from streammm.media.urls import mask_url
    from streammm.store.factory import open_for_listing

    local = Path(settings.store.data_dir).expanduser()
    bootstrap = settings.kafka.bootstrap_servers or running_broker(local)
    if not bootstrap:
        raise ConfigError(
            "publish needs a broker: set kafka.bootstrap_servers (STREAMMM_KAFKA__BOOTSTRAP_SERVERS), "
            f"or run `streammm up --data-dir DIR` and pass the same --data-dir (none runs on {local})"
        )
    start_s = 0.0
    if is_live(args.source):  # continue the stream's timeline after its stored clips, never over them
        store = open_for_listing(settings)
        if store is not None:
            try:
                start_s = resume_point(store, args.stream, settings.align.stride_s)
            finally:
                store.close()

    async def run() -> int:
        import signal
        import threading

        topics = await ensure_topics(settings.kafka, bootstrap)
        producer = await start_producer(settings.kafka, bootstrap)
        stats = PipelineStats()
        stats.source_added(args.stream, mask_url(args.source), live=is_live(args.source))
        stop = threading.Event()
        loop = asyncio.get_running_loop()

        def stopping() -> None:  # the first Ctrl-C: publish what is buffered (its speech is flushed), then end
            print(f"{args.stream}: stopping; sending what the source has given so far", file=sys.stderr)
            stop.set()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)  # a second one interrupts at once

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping)
        shown = asyncio.create_task(_show_publishing(stats, args.stream))
        try:
            sent = await publish(
                args.source, args.stream, producer=producer, topics=topics, settings=settings, realtime=args.realtime,
                stats=stats, timeline_start_s=start_s, stop=stop,
            )
        finally:
            shown.cancel()
            await producer.stop()
        print(publishing_line(stats, args.stream), file=sys.stderr)
        print(f"published {sent} segments of {mask_url(args.source)} as stream {args.stream}", file=sys.stderr)
        return 0 if sent else 1

    return asyncio.run(run())


def publishing_line(stats: Any, stream_id: str) -> str:
    """`cam2: live, 34.0 s of media sent (17 segments), 1 reconnects`: what `publish` has done so far."""
    progress = stats.streams.get(stream_id)
    if progress is None:
        return f"{stream_id}: starting"
    src = progress.source
    text = f"{stream_id}: {src.state + ', ' if src else ''}{progress.media_s_published:.1f} s of media sent ({progress.segments_published} segments)"
    if src is not None and (src.reconnects or src.gaps):
        text += f", {src.reconnects} reconnects, {src.gaps} gaps ({src.gap_s:.0f} s)"
    if src is not None and src.state in ("reconnecting", "failed") and src.last_error:
        text += f", last error: {src.last_error}"
    return text


async def _show_publishing(stats: Any, stream_id: str, every_s: float = 5.0) -> None:
    import asyncio

    previous = ""
    while True:
        await asyncio.sleep(every_s)
        line = publishing_line(stats, stream_id)
        if line != previous:
            print(line, file=sys.stderr, flush=True)
            previous = line


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from streammm.pipeline.runner import run_workers

    if not 1 <= args.replicas <= 64:
        print("streammm: error: --replicas must be between 1 and 64", file=sys.stderr)
        return 2
    return asyncio.run(run_workers(settings, args.kind, args.replicas))


def _cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from streammm.models.registry import create_question_encoder
    from streammm.qa.answer import clock
    from streammm.qa.service import NO_MATCH, QueryService, SearchRequest
    from streammm.server.protocol import moment_json
    from streammm.store.factory import open_existing_store

    if not 1 <= args.k <= 100:
        print("streammm: error: --k must be between 1 and 100", file=sys.stderr)
        return 2
    encoder = create_question_encoder(settings.models)
    store = open_existing_store(settings, encoder.dim)
    try:
        query = SearchRequest(args.query, streams=tuple(args.stream) if args.stream else None, k=args.k, strategy=args.strategy)
        rows = [moment_json(m) for m in QueryService(store, encoder, min_relevance=settings.qa.min_relevance).moments(query)]
    finally:
        store.close()
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False)
        print()
    elif not rows:
        print(NO_MATCH)
    else:
        for row in rows:
            said = f"  said: {row['transcript'][:100]}" if row["transcript"] else ""
            shown = f"  shown: {' | '.join(row['ocr_text'].splitlines())[:100]}" if row["ocr_text"] else ""
            span = f"{clock(row['start_s'])}–{clock(row['end_s'], up=True)}"
            print(f"[{row['stream_id']} @ {span}]  relevance {row['relevance']:.2f}{said}{shown}")
    return 0


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from streammm.bench import bench_media

    with bench_media(args.media, args.text_heavy_s) as media:
        return _run_bench(args, settings, media)


def _run_bench(args: argparse.Namespace, settings: Settings, media: list[str] | None) -> int:
    from streammm.bench import perception_markdown, pipeline_markdown, run_perception_bench, run_pipeline_bench
    from streammm.bench_query import run_query_bench
    from streammm.bench_report import format_query_bench

    results: dict[str, Any] = {}
    if args.what in ("all", "perception"):
        results["perception"] = run_perception_bench(settings, media)
    if args.what == "pipeline" and args.rtsp:
        from streammm.bench import run_rtsp_pipeline_bench

        results["pipeline"] = run_rtsp_pipeline_bench(settings, args.streams or [1, 3], media[0] if media else None)
    elif args.what in ("all", "pipeline"):
        results["pipeline"] = run_pipeline_bench(settings, args.streams or [1, 2, 3], media[0] if media else None)
    if args.what in ("all", "query"):
        results["query"] = run_query_bench(settings, sizes=args.sizes, clients=args.clients, progress=lambda line: print(line, file=sys.stderr))
        print(format_query_bench(results["query"]))
    if args.what != "all":
        if args.json:
            Path(args.json).write_text(json.dumps(results[args.what], indent=1), encoding="utf-8")
        return 0
    tables = "\n\n".join(
        [
            f"# streammm bench ({os.cpu_count()} CPUs, {settings.models.device}, {settings.models.embedding.profile} profile)",
            perception_markdown(results["perception"]),
            pipeline_markdown(results["pipeline"]),
            format_query_bench(results["query"]),
        ]
    )
    json_out = Path(args.json or "bench-results/bench.json")
    markdown_out = Path(args.markdown or "bench-results/bench.md")
    for path, text in ((json_out, json.dumps(results, indent=1)), (markdown_out, tables + "\n")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(tables)
    print(f"wrote {json_out} and {markdown_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmarks: print what each stage costs on real media (numbers, never pass/fail)."""

from __future__ import annotations

import math
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streammm.config import Settings
from streammm.measure import percentile
from streammm.paths import shared_media

PERCEPTION_MEDIA = ("derived/narrated_slideshow.mp4", "video/display-dual-monitors.webm")
PIPELINE_MEDIA = "derived/narrated_slideshow.mp4"  # speech, on-screen text and pictures: every modality works
TEXT_HEAVY = "text-heavy"  # --media keyword: slides and scrolling credits made for the run (media/text_heavy.py)
STAGES = ("decode", "vision", "ocr", "speech")
COST_CORES = (2, 8, 16, 64)  # machines the cost model projects to (2: this dev machine)
UTILISATION = 0.8  # share of a machine's CPU the projection lets perception use


@contextmanager
def bench_media(media: list[str] | None, text_heavy_s: float = 120.0) -> Iterator[list[str] | None]:
    """`media` with the keyword `text-heavy` replaced by a text-heavy video of `text_heavy_s` made for the
    run (deleted after it)."""
    if not media or TEXT_HEAVY not in media:
        yield media
        return
    from streammm.media.text_heavy import write_text_heavy

    with tempfile.TemporaryDirectory(prefix="streammm-bench-") as scratch:
        print(f"making a {text_heavy_s:g} s text-heavy video (slides and scrolling credits) ...", file=sys.stderr, flush=True)
        made = write_text_heavy(Path(scratch) / f"text_heavy_{text_heavy_s:g}s.mp4", text_heavy_s)
        yield [str(made) if m == TEXT_HEAVY else m for m in media]


def project_streams(cpu_s_per_media_s: float, cores: int, utilisation: float = UTILISATION) -> int:
    """Streams one machine perceives in real time: floor(cores × utilisation / CPU s per media s)."""
    if cpu_s_per_media_s <= 0 or cores < 1 or not 0 < utilisation <= 1:
        raise ValueError(f"need CPU s per media s > 0, cores >= 1 and 0 < utilisation <= 1: {cpu_s_per_media_s}, {cores}, {utilisation}")
    return math.floor(round(cores * utilisation / cpu_s_per_media_s, 9))


def cost_model(rows: list[dict[str, Any]], cores: tuple[int, ...] = COST_CORES, utilisation: float = UTILISATION) -> dict[str, Any]:
    """From perception rows with `cpu_s_per_media_s` per stage: the total per media file and the streams
    per machine it projects for each core count (`streams` lines up with `cores`; None where nothing was
    measured)."""
    out = []
    for r in rows:
        per_stage = {k: r["cpu_s_per_media_s"][k] for k in STAGES}
        total = round(sum(per_stage.values()), 3)
        streams = [project_streams(total, c, utilisation) if total > 0 else None for c in cores]
        out.append({"media": r["media"], **per_stage, "total": total, "streams": streams})
    return {"utilisation": utilisation, "cores": list(cores), "rows": out}


def cost_markdown(model: dict[str, Any]) -> str:
    lines = [
        "Cost model: CPU seconds per media second per stage (process CPU time, all threads, while each stage ran alone "
        f"in `bench perception`; media: {', '.join(r['media'] for r in model['rows'])}). Segmenting, text embedding, "
        "the bus and the store are not in it, so the projections are an upper bound.",
        "",
        "| media | decode | vision | OCR | speech | total |",
        "|---|---|---|---|---|---|",
    ]
    for r in model["rows"]:
        lines.append(f"| {r['media']} | " + " | ".join(f"{r[k]} s/s" for k in (*STAGES, "total")) + " |")
    lines.append("")
    percent = f"{100 * model['utilisation']:g} %"
    for i, cores in enumerate(model["cores"]):
        each = ", ".join(f"{r['streams'][i]} of {r['media']}" for r in model["rows"])
        lines.append(f"- {cores} cores at {percent} CPU: {each} (streams = floor({cores} × {model['utilisation']:g} / total))")
    return "\n".join(lines)


def run_perception_bench(settings: Settings, media: list[str] | None = None) -> dict[str, Any]:
    """Real-time factor per stage (media seconds per wall second), CPU seconds per media second per stage and
    the streams per machine they project (cost_model), OCR gate share, and peak memory."""
    from streammm.perception import FilePerceiver

    files = [Path(m) for m in media] if media else [shared_media() / m for m in PERCEPTION_MEDIA]
    perceiver = FilePerceiver(settings)
    started = time.perf_counter()
    perceiver.models.load_all()
    load_s = time.perf_counter() - started
    rows = []
    for path in files:
        timeline, times = perceiver.perceive_file(path, parallel=False)  # each stage timed alone
        started = time.perf_counter()
        perceiver.perceive_file(path)  # what `inspect` does: speech beside the frame stages
        wall_s = time.perf_counter() - started
        duration = timeline.duration_s
        rows.append(
            {
                "media": path.name,
                "duration_s": round(duration, 2),
                "wall_s": round(wall_s, 2),
                "inspect_x": _ratio(duration, wall_s),
                "decode_x": _ratio(duration, times.decode_s),
                "vision_x": _ratio(duration, times.vision_s),
                "ocr_x": _ratio(duration, times.ocr_s),
                "speech_x": _ratio(duration, times.speech_s) if timeline.words or times.speech_s else None,
                "frames": times.frames,
                "ocr_frames_pct": round(100 * times.frames_ocr / max(times.frames, 1), 1),
                "ocr_area_pct": round(100 * times.area_ocr / max(times.frames, 1), 1),
                "words": len(timeline.words),
                "ocr_spans": len(timeline.ocr),
                "cpu_s_per_media_s": {k: round(getattr(times, f"{k}_cpu_s") / max(duration, 1e-9), 3) for k in STAGES},
            }
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "bench": "perception",
        "device": settings.models.device,
        "profile": settings.models.embedding.profile,
        "model_load_s": round(load_s, 2),
        "peak_rss_mb": round(peak_mb),
        "rows": rows,
        "cost_model": cost_model(rows),
        "decode": run_decode_bench(settings, files if media else None),
    }
    _print_table(result)
    print(cost_markdown(result["cost_model"]))
    return result


DECODE_MEDIA = (*PERCEPTION_MEDIA, "video/movie-hello.mp4", "video/bikes.mp4", "video/moviepy_timecode_example.mp4")
DECODE_CASES = ("ts_mpeg2_mp2", "avi_cinepak")  # from the format matrix (media/synthetic.py), made on the fly


def run_decode_bench(settings: Settings, files: list[Path] | None = None) -> dict[str, Any]:
    """Frame decoding alone, decord beside PyAV (media s per wall s), sampling 1 fps with and without the
    shot-change probes; and what re-encoding an input into segments costs (wall s per media s)."""
    from streammm.media.frames import sample_frames
    from streammm.media.probe import probe
    from streammm.media.synthetic import MATRIX, missing_encoders, write_case
    from streammm.media.transcode import reencoded_segments

    with tempfile.TemporaryDirectory(prefix="streammm-bench-") as scratch:
        paths = list(files) if files else [shared_media() / m for m in DECODE_MEDIA]
        cases = [c for c in MATRIX if c.name in DECODE_CASES and not missing_encoders(c)]
        paths += [write_case(c, Path(scratch)) for c in cases]
        rows = []
        for path in paths:
            info = probe(path)
            if not info.has_video:
                continue
            row: dict[str, Any] = {"media": path.name, "codec": info.video_codec, "duration_s": round(info.duration_s, 2)}
            for probes, options in (("", settings.media.model_copy(update={"shot_detect_fps": 0.0})), ("_probes", settings.media)):
                for decoder in ("decord", "pyav"):
                    started = time.perf_counter()
                    try:
                        for _ in sample_frames(path, options, max_side_px=640, decoder=decoder):
                            pass
                        row[f"{decoder}{probes}_x"] = _ratio(info.duration_s, time.perf_counter() - started)
                    except Exception as exc:  # decord's failures are what is being measured
                        row[f"{decoder}{probes}_x"] = None
                        row[f"{decoder}_error"] = str(exc).splitlines()[0][:120]
            started = time.perf_counter()
            size = sum(len(s.data) for s in reencoded_segments(path, "bench", settings.media.segment_s))
            reencode_s = time.perf_counter() - started
            row["reencode_s_per_media_s"] = round(reencode_s / max(info.duration_s, 1e-9), 3)
            row["reencoded_kb_per_s"] = round(size / 1024 / max(info.duration_s, 1e-9))
            rows.append(row)
    result = {"sample_fps": settings.media.sample_fps, "shot_detect_fps": settings.media.shot_detect_fps, "rows": rows}
    print(decode_markdown(result))
    return result


def decode_markdown(result: dict[str, Any]) -> str:
    def x(value: Any) -> str:
        return "fails" if value is None else f"{value}x"

    lines = [
        f"Frame decoding at {result['sample_fps']:g} fps, media s per wall s (640 px); \"+ probes\" adds the shot-change "
        f"probes at {result['shot_detect_fps']:g} fps. Re-encoding (H.264/MJPEG + 16 kHz PCM segments): wall s per media s.",
        "",
        "| media | codec | duration | decord | PyAV | decord + probes | PyAV + probes | re-encode | re-encoded size |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['media']} | {r['codec']} | {r['duration_s']} s | {x(r['decord_x'])} | {x(r['pyav_x'])} | "
            f"{x(r['decord_probes_x'])} | {x(r['pyav_probes_x'])} | {r['reencode_s_per_media_s']} s/s | {r['reencoded_kb_per_s']} KB/s |"
        )
    return "\n".join(lines)


def _ratio(media_s: float, wall_s: float) -> float | None:
    return round(media_s / wall_s, 1) if wall_s > 0 else None


def _print_table(result: dict[str, Any]) -> None:
    columns = ["media", "duration_s", "wall_s", "inspect_x", "decode_x", "vision_x", "ocr_x", "speech_x", "ocr_frames_pct", "ocr_area_pct"]
    print(f"perception on {result['device']} ({result['profile']} profile); real-time factors are media s / wall s")
    print(" | ".join(columns))
    for row in result["rows"]:
        print(" | ".join("-" if row[c] is None else str(row[c]) for c in columns))
    print(f"model load {result['model_load_s']} s; peak memory {result['peak_rss_mb']} MB")


def run_pipeline_bench(settings: Settings, streams: list[int], media: str | None = None) -> dict[str, Any]:
    """For each N: N concurrent real-time streams through `up` on a fresh store; freshness and keeping up.

    Freshness is segment published -> the clip that needs it stored (searchable). A run keeps up with
    real time when freshness does not grow over the run: the median of the last third of the clips
    (in storing order) is within one segment length of the median of the first third.
    """
    import asyncio
    import statistics

    from streammm.node import run_up
    from streammm.stats import PipelineStats

    source = str(Path(media) if media else shared_media() / PIPELINE_MEDIA)
    rows = []
    for n in streams:
        with tempfile.TemporaryDirectory(prefix="streammm-bench-") as data:
            run_settings = settings.model_copy(update={"store": settings.store.model_copy(update={"data_dir": data})})
            stats = PipelineStats()
            started, cpu_started = time.perf_counter(), _cpu_s()
            asyncio.run(run_up(run_settings, [(source, f"bench-{i + 1}") for i in range(n)], once=True, realtime=True, stats=stats))
            wall_s, cpu_s = time.perf_counter() - started, _cpu_s() - cpu_started
            windows, still_incomplete = _store_completeness(run_settings)
        fresh = list(stats.freshness_s)  # in storing order: `_keeps_up` compares the first and last thirds
        # the segments' real length: a file is cut at its keyframes, so it may be longer than media.segment_s
        segment_s = round(max([p.media_s_published / p.segments_published for p in stats.streams.values() if p.segments_published]
                              + [settings.media.segment_s]), 2)
        media_s = max((p.media_s_published for p in stats.streams.values()), default=0.0)
        first_stores = stats.complete_at_first_store + stats.provisional_at_first_store
        completion = list(stats.completion_s)
        all_media_s = sum(p.media_s_published for p in stats.streams.values())
        rows.append(
            {
                "streams": n,
                "clips": len(fresh),
                # completeness: share of windows stored complete at once, share complete at the end (must be
                # 100 %), and for the provisional ones, first store -> complete
                "complete_at_first_store_pct": round(100 * stats.complete_at_first_store / first_stores, 1) if first_stores else None,
                "complete_at_end_pct": round(100 * (windows - still_incomplete) / windows, 1) if windows else None,
                "completion_p50_s": _seconds(percentile(completion, 50)),
                "completion_p95_s": _seconds(percentile(completion, 95)),
                "freshness_p50_s": _seconds(percentile(fresh, 50)),
                "freshness_p95_s": _seconds(percentile(fresh, 95)),
                "freshness_p99_s": _seconds(percentile(fresh, 99)),
                "freshness_mean_s": round(statistics.fmean(fresh), 2) if fresh else None,
                "media_s": round(media_s, 1),
                "wall_s": round(wall_s, 1),
                "cpu_s_per_media_s": round(cpu_s / all_media_s, 3) if all_media_s else None,  # whole process and broker, all streams
                "segment_s": segment_s,
                "keeps_up": _keeps_up(fresh, segment_s),
                "thinned_clips": sum(p.thinned_windows for p in stats.streams.values()),  # frames thinned while behind
            }
        )
        r = rows[-1]
        print(
            f"N={n}: freshness p50 {r['freshness_p50_s']} s, p95 {r['freshness_p95_s']} s, p99 {r['freshness_p99_s']} s over "
            f"{len(fresh)} clips ({r['thinned_clips']} thinned); wall {wall_s:.1f} s for {media_s:.1f} s of media; CPU "
            f"{r['cpu_s_per_media_s']} s per media s (keeps up: {r['keeps_up']}, segments {segment_s} s); complete at first store "
            f"{r['complete_at_first_store_pct']} %, at the end {r['complete_at_end_pct']} %, provisional -> complete "
            f"p50 {r['completion_p50_s']} s, p95 {r['completion_p95_s']} s",
            flush=True,
        )
    keeping = [r["streams"] for r in rows if r["keeps_up"]]
    result = {
        "bench": "pipeline",
        "media": Path(source).name,
        "segment_s": settings.media.segment_s,
        "rows": rows,
        "max_streams_real_time": max(keeping) if keeping else 0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(f"largest N keeping up with real time: {result['max_streams_real_time']}")
    return result


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its waited-for children (the broker) so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _store_completeness(settings: Settings) -> tuple[int, int]:
    """(clips in the store, clips still waiting for a modality), read back from the store itself."""
    from streammm.models.registry import create_text_encoder
    from streammm.records import ClipFilter
    from streammm.store.factory import open_existing_store

    store = open_existing_store(settings, create_text_encoder(settings.models).dim)  # loaded once, by `up`
    try:
        return store.count(), store.count(ClipFilter(incomplete=True))
    finally:
        store.close()


def _keeps_up(in_order: list[float], segment_s: float) -> bool:
    import statistics

    third = len(in_order) // 3
    if third == 0:
        return False
    return statistics.median(in_order[-third:]) <= statistics.median(in_order[:third]) + segment_s


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def perception_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Perception ({result['device']}, {result['profile']} profile; each stage timed alone, real-time factor = media s / wall s; "
        f"model load {result['model_load_s']} s, peak memory {result['peak_rss_mb']} MB):",
        "",
        "| media | duration | inspect | decode | vision | OCR | speech | OCR ran on frames / area |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        x = [("–" if r[k] is None else f"{r[k]}x") for k in ("inspect_x", "decode_x", "vision_x", "ocr_x", "speech_x")]
        lines.append(f"| {r['media']} | {r['duration_s']} s | {' | '.join(x)} | {r['ocr_frames_pct']} % / {r['ocr_area_pct']} % |")
    if result.get("cost_model"):
        lines += ["", cost_markdown(result["cost_model"])]
    if result.get("decode"):
        lines += ["", decode_markdown(result["decode"])]
    return "\n".join(lines)


def pipeline_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Pipeline ({result['media']} at wall-clock pace, N concurrent streams; freshness = segment published → clip searchable; "
        "CPU = the whole `up` process and its broker, per media second of all streams):",
        "",
        "| streams | clips | freshness p50 | p95 | p99 | wall for the media | CPU per media s | keeps up | clips thinned | complete at first store | complete at end | provisional → complete p50 / p95 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['streams']} | {r['clips']} | {r['freshness_p50_s']} s | {r['freshness_p95_s']} s | {r['freshness_p99_s']} s | "
            f"{r['wall_s']} s for {r['media_s']} s | {r.get('cpu_s_per_media_s')} s | {'yes' if r['keeps_up'] else 'no'} | {r.get('thinned_clips', 0)} | "
            f"{r.get('complete_at_first_store_pct')} % | {r.get('complete_at_end_pct')} % | "
            f"{r.get('completion_p50_s')} s / {r.get('completion_p95_s')} s |"
        )
    lines += ["", f"Largest N keeping up with real time: {result['max_streams_real_time']}."]
    return "\n".join(lines)


RTSP_SERVER = Path(__file__).resolve().parents[1] / "tests" / "integration" / "rtsp_server.py"


def run_rtsp_pipeline_bench(settings: Settings, streams: list[int], media: str | None = None, *, run_s: float = 40.0) -> dict[str, Any]:
    """N RTSP streams from a local gst-rtsp-server (the camera-like variant of the dev slideshow, every
    client watching the same camera) through `up` for `run_s` wall seconds: freshness p50/p95. With one
    stream the camera is also killed half-way and started again 10 s later: the wall time from its return
    to the first clip of new media being stored (the target: reconnect backoff + one segment + indexing).
    """
    import asyncio
    import signal
    import subprocess
    import tempfile

    from streammm.bus.broker import free_port
    from streammm.node import run_up
    from streammm.stats import PipelineStats

    if not RTSP_SERVER.is_file():
        raise FileNotFoundError(f"{RTSP_SERVER}: the bench's RTSP server comes with the repository's tests")
    source = str(Path(media) if media else shared_media() / PIPELINE_MEDIA)
    rows = []
    for n in streams:
        port = free_port()

        def camera() -> subprocess.Popen[str]:
            process = subprocess.Popen(
                ["/usr/bin/python3", str(RTSP_SERVER), "--port", str(port), "--media", source, "--variant", "camera"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            assert process.stdout is not None
            if not process.stdout.readline().startswith("ready"):
                raise RuntimeError("the GStreamer RTSP server did not start (apt install gir1.2-gst-rtsp-server-1.0 python3-gi)")
            return process

        server = camera()
        stats = PipelineStats()
        returned: dict[str, float | None] = {"after_s": None, "gap_s": None}

        async def drive(stats: PipelineStats = stats, n: int = n) -> None:
            nonlocal server
            started = time.monotonic()
            while not any(s.source and s.state == "live" for s in stats.sources().values()):
                await asyncio.sleep(0.2)
            if n == 1:
                await asyncio.sleep(run_s / 2)
                server.kill()
                server.wait()
                await asyncio.sleep(2.0)
                first_end = stats.streams["bench-1"].media_s_published
                await asyncio.sleep(8.0)
                server = await asyncio.to_thread(camera)
                back = time.monotonic()
                while stats.streams["bench-1"].stored_until_s <= first_end + 0.5 and time.monotonic() - back < 120:
                    await asyncio.sleep(0.1)
                returned["after_s"] = round(time.monotonic() - back, 1)
                src = stats.sources().get("bench-1")
                returned["gap_s"] = round(src.gap_s, 1) if src else None
            await asyncio.sleep(max(0.0, started + run_s - time.monotonic()))
            signal.raise_signal(signal.SIGINT)  # `up`'s own stop: sources flush, workers drain

        async def both(run_settings: Settings, stats: PipelineStats = stats, n: int = n) -> None:
            driver = asyncio.create_task(drive())
            inputs = [(f"rtsp://127.0.0.1:{port}/cam", f"bench-{i + 1}") for i in range(n)]
            await run_up(run_settings, inputs, once=False, stats=stats)
            driver.cancel()

        try:
            with tempfile.TemporaryDirectory(prefix="streammm-bench-") as data:
                run_settings = settings.model_copy(update={"store": settings.store.model_copy(update={"data_dir": data})})
                asyncio.run(both(run_settings))
        finally:
            server.kill()
            server.wait()
        fresh = list(stats.freshness_s)
        rows.append(
            {
                "streams": n,
                "clips": len(fresh),
                "freshness_p50_s": _seconds(percentile(fresh, 50)),
                "freshness_p95_s": _seconds(percentile(fresh, 95)),
                "media_s": round(sum(p.media_s_published for p in stats.streams.values()), 1),  # all streams
                "stored_media_s": round(sum(p.stored_until_s for p in stats.streams.values()), 1),  # within the run
                "keeps_up": _keeps_up(fresh, settings.media.segment_s),
                "return_to_first_new_clip_s": returned["after_s"],
                "gap_s": returned["gap_s"],
            }
        )
        r = rows[-1]
        back_line = f"; camera back -> first new clip stored {r['return_to_first_new_clip_s']} s (gap {r['gap_s']} s)" if n == 1 else ""
        print(
            f"RTSP N={n}: freshness p50 {r['freshness_p50_s']} s, p95 {r['freshness_p95_s']} s over {len(fresh)} clips; "
            f"{r['stored_media_s']} of {r['media_s']} media s stored within the run (keeps up: {r['keeps_up']}){back_line}",
            flush=True,
        )
    return {"bench": "pipeline-rtsp", "media": Path(source).name, "run_s": run_s, "segment_s": settings.media.segment_s, "rows": rows}

"""Helpers for the pipeline reliability tests: a real Tansu broker, worker subprocesses, the store, the DLQ.

Nothing here is mocked: workers are `python -m streammm worker KIND` processes with the real models,
streams are fed by `python -m streammm publish`, and the store is read the way `streammm search` reads it.
Every wait polls against a deadline and fails with the tails of the worker logs.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from streammm.bus.codec import DeadLetter, decode_dead_letter, encode_segment
from streammm.bus.kafka import read_topic, start_producer
from streammm.bus.topics import Topics
from streammm.config import KafkaConfig, Settings, load_settings
from streammm.eval.text import normalize_words, word_error_rate
from streammm.records import Clip, ClipFilter, Segment
from streammm.store.base import clip_id

T = TypeVar("T")
DIM = 384  # the bundled profile's text space
WINDOW_S, STRIDE_S = 4.0, 2.0
PARTITIONS = 2
LOG_LINE = re.compile(r"partitions (assigned|revoked): (\[.*\])")


# --- processes ------------------------------------------------------------------------------------------


def base_env(**settings: object) -> dict[str, str]:
    """This process's environment without any STREAMMM_ setting of the caller, plus `settings`
    (`kafka__partitions=2` becomes STREAMMM_KAFKA__PARTITIONS=2)."""
    keep = {"STREAMMM_MEDIA_DIR", "STREAMMM_CACHE_DIR"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMMM_") or k in keep}
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in settings.items():
        env[f"STREAMMM_{key.upper()}"] = str(value)
    return env


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"--- {path.name}: (no log) ---"
    return f"--- {path.name} (last {min(lines, len(text))} of {len(text)} lines) ---\n" + "\n".join(text[-lines:])


def run_cli(args: Sequence[str], *, env: dict[str, str], log: Path, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """`python -m streammm ARGS`; stderr (the log) goes to `log`, stdout is returned.

    On timeout it gets SIGTERM first, so that `up` stops the broker it started, then SIGKILL."""
    with open(log, "ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "streammm", *args], env=env, stdout=subprocess.PIPE, stderr=err,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        try:
            stdout, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_process(process, signal.SIGTERM, timeout_s=30)
            pytest.fail(f"streammm {' '.join(args)} did not finish within {timeout_s:.0f} s\n{tail(log)}")
        except BaseException:
            stop_process(process, signal.SIGTERM, timeout_s=30)
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, None)


def spawn(args: Sequence[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streammm", *args], env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout_s: float = 20) -> int:
    """Signal a process this module started and wait for it; SIGKILL if it does not go."""
    if process.poll() is None:
        try:
            process.send_signal(sig)
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=timeout_s)


@dataclass
class Worker:
    """One `streammm worker KIND` process and its log."""

    kind: str
    name: str
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def partitions(self, topic: str) -> set[int]:
        """The partitions of `topic` this worker owns now, replayed from its rebalance log lines."""
        owned: set[int] = set()
        for event, listed in LOG_LINE.findall(self.text()):
            parts = {p for t, p in ast.literal_eval(listed) if t == topic}
            # aiokafka's eager protocol: everything is revoked, then the whole new assignment is announced
            owned = parts if event == "assigned" else owned - parts
        return owned


def wait_until(
    condition: Callable[[], T],
    *,
    timeout_s: float,
    what: str,
    context: Callable[[], str] = lambda: "",
    check: Callable[[], None] = lambda: None,
    interval_s: float = 0.5,
) -> T:
    """Poll `condition` until it is truthy; `check` may fail early (e.g. a worker died)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        check()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{context()}")
        time.sleep(interval_s)


# --- the cluster: one broker, one worker of each kind, one store ------------------------------------------


@dataclass
class Cluster:
    """Workers of every kind against one broker and one data dir; `workers[kind]` is the current one."""

    bootstrap_servers: str
    root: Path
    env: dict[str, str]
    workers: dict[str, Worker] = field(default_factory=dict)
    retired: list[Worker] = field(default_factory=list)
    publishers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _store: Any = None
    _count: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def settings(self) -> Settings:
        return load_settings(env=self.env)

    @property
    def topics(self) -> Topics:
        return Topics.from_config(self.settings.kafka)

    def start(self, kind: str, *, wait: bool = True) -> Worker:
        """A new worker of `kind`; it becomes `workers[kind]` (the previous one, if any, is retired)."""
        self._count += 1
        name = f"{kind}-{self._count}"
        args = ["worker", kind] + (["--data-dir", str(self.data_dir)] if kind == "align" else [])
        log = self.logs / f"{name}.log"
        worker = Worker(kind, name, log, spawn(args, env=self.env, log=log))
        if kind in self.workers:
            self.retired.append(self.workers[kind])
        self.workers[kind] = worker
        if wait:
            self.wait_consuming(worker)
        return worker

    def wait_consuming(self, worker: Worker, timeout_s: float = 180) -> None:
        """Until the worker owns partitions of its input topic (models loaded, group joined)."""
        topic = self.topics.vision if worker.kind == "align" else self.topics.segments
        wait_until(
            lambda: worker.partitions(topic),
            timeout_s=timeout_s,
            what=f"worker {worker.name} to be assigned partitions of {topic}",
            context=self.context,
            check=lambda: self.check_alive([worker]),
        )

    def all_workers(self) -> list[Worker]:
        return [*self.retired, *self.workers.values()]

    def check_alive(self, workers: Iterable[Worker] | None = None) -> None:
        dead = [w for w in (workers if workers is not None else self.workers.values()) if not w.alive]
        if dead:
            names = ", ".join(f"{w.name} (exit {w.process.returncode})" for w in dead)
            pytest.fail(f"worker(s) died: {names}\n{self.context()}")

    def context(self, lines: int = 30) -> str:
        logs = sorted(self.logs.glob("*.log"), key=lambda p: p.stat().st_mtime)
        return "\n".join(tail(p, lines) for p in logs)

    def publish(self, source: Path, stream_id: str, *, realtime: bool = False) -> subprocess.Popen[bytes]:
        args = ["publish", str(source), "--stream", stream_id] + (["--realtime"] if realtime else [])
        process = spawn(args, env=self.env, log=self.logs / f"publish-{stream_id}.log")
        self.publishers.append(process)
        return process

    def store(self):
        """The align worker's store, opened by this process for reading (the worker created it and its indexes)."""
        if self._store is None:
            from streammm.store.embedded import LanceDbClipStore

            wait_until(lambda: (self.data_dir / "clips" / "clips.lance").is_dir(), timeout_s=60, what="the clip table", context=self.context)
            self._store = LanceDbClipStore(self.data_dir / "clips", DIM)
        return self._store

    def wait_clips(self, stream_id: str, count: int, *, timeout_s: float, what: str | None = None) -> int:
        """Until the store holds at least `count` clips of `stream_id`; every worker must stay alive."""
        store = self.store()
        return wait_until(
            lambda: (n := store.count(ClipFilter(stream_ids=(stream_id,)))) >= count and n,
            timeout_s=timeout_s,
            what=what or f"{count} clips of stream {stream_id}",
            context=lambda: f"stored so far: {describe(self.data_dir, stream_id)}\n{self.context()}",
            check=self.check_alive,
        )

    def wait_done(self, stream_id: str, *, timeout_s: float, what: str | None = None, times: int = 1) -> None:
        """Until an aligner says it stored the stream's last clip, and every clip is complete (then the store
        is final for it); `times`: that many ingests of the stream have finished."""
        marker = f"stream {stream_id}: all clips stored"
        wait_until(
            lambda: sum(w.text().count(marker) for w in self.all_workers() if w.kind == "align") >= times,
            timeout_s=timeout_s,
            what=what or f"the aligner to finish stream {stream_id}",
            context=lambda: f"stored so far: {describe(self.data_dir, stream_id)}\n{self.context()}",
            check=self.check_alive,
        )

    def dead_letters(self, stream_id: str | None = None) -> list[DeadLetter]:
        return read_dead_letters(self.settings.kafka, self.bootstrap_servers, self.topics.dlq, stream_id)

    def close(self) -> None:
        for process in self.publishers:
            stop_process(process, signal.SIGKILL)
        for worker in self.all_workers():
            stop_process(worker.process, signal.SIGTERM)
        if self._store is not None:
            self._store.close()


# --- the store ---------------------------------------------------------------------------------------


def clip_rows(data_dir: Path, stream_id: str | None = None) -> list[dict[str, Any]]:
    """(clip_id, stream_id, start_s, end_s, profile, pending) of every stored clip, read straight from the table."""
    import lancedb

    table = lancedb.connect(str(data_dir / "clips")).open_table("clips")
    query = table.search()
    if stream_id is not None:
        query = query.where(f"stream_id = '{stream_id}'")
    rows = query.select(["clip_id", "stream_id", "start_s", "end_s", "profile", "pending"]).limit(None).to_arrow().to_pylist()
    return sorted(rows, key=lambda r: (r["stream_id"], r["start_s"]))


def clips_of(store: Any, data_dir: Path, stream_id: str) -> list[Clip]:
    """Every stored clip of a stream, in time order, through the store's own `get`."""
    ids = [r["clip_id"] for r in clip_rows(data_dir, stream_id)]
    return sorted(store.get(ids), key=lambda c: c.start_s)


def describe(data_dir: Path, stream_id: str) -> str:
    try:
        rows = clip_rows(data_dir, stream_id)
    except Exception as exc:  # the table may not exist yet
        return f"(store not readable: {exc})"
    return ", ".join(f"[{r['start_s']:g}-{r['end_s']:g}{' without ' + r['pending'] if r['pending'] else ''}]" for r in rows) or "(none)"


def window_starts(duration_s: float) -> list[float]:
    """0, 2, 4, ... up to the first window that reaches the end of the media."""
    starts, start = [], 0.0
    while True:
        starts.append(start)
        if start + WINDOW_S >= duration_s - 1e-6:
            return starts
        start += STRIDE_S


def expected_ids(stream_id: str, duration_s: float, profile: str) -> set[str]:
    return {clip_id(stream_id, start, profile) for start in window_starts(duration_s)}


def single_profile(rows: Sequence[dict[str, Any]]) -> str:
    profiles = {r["profile"] for r in rows}
    assert len(profiles) == 1, f"clips were stored under several embedding profiles: {profiles}"
    return profiles.pop()


def assert_tiles(rows: Sequence[dict[str, Any]], duration_s: float, stream_id: str) -> None:
    """Clips start at exactly 0, 2, 4, ... each once, are 4 s long, overlap, and the last ends at the media's end."""
    rows = sorted(rows, key=lambda r: r["start_s"])
    starts = [r["start_s"] for r in rows]
    assert starts == window_starts(duration_s), f"{stream_id}: clip starts {starts}, want {window_starts(duration_s)}"
    ids = [r["clip_id"] for r in rows]
    assert len(ids) == len(set(ids)), f"{stream_id}: a clip id is stored twice: {ids}"
    for row, following in zip(rows, rows[1:]):
        assert row["end_s"] == pytest.approx(row["start_s"] + WINDOW_S, abs=1e-6), f"{stream_id}: clip {row} is not {WINDOW_S} s long"
        assert following["start_s"] < row["end_s"], f"{stream_id}: gap or no overlap between {row} and {following}"
    last = rows[-1]
    assert last["end_s"] == pytest.approx(duration_s, abs=0.1), f"{stream_id}: the last clip ends at {last['end_s']}, the media at {duration_s}"
    assert last["start_s"] < last["end_s"] <= last["start_s"] + WINDOW_S + 1e-6


# --- evidence of the narrated slideshow ---------------------------------------------------------------


def expected_frames(start_s: float, end_s: float, duration_s: float, missing: Sequence[tuple[float, float]] = ()) -> list[float]:
    """The 1 fps grid frames a clip holds (the slideshow's cuts fall on the grid): start <= t < end, the
    last clip also takes the final frame; none from `missing` (media ranges whose segment was lost)."""
    is_last = end_s >= duration_s - 1e-6
    times = [float(t) for t in range(math.ceil(start_s), math.floor(duration_s) + 1) if t < end_s or (is_last and t <= end_s)]
    return [t for t in times if not any(a <= t < b for a, b in missing)]


def slide_numbers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"slide\s*(\d)\s*of\s*5", text, flags=re.IGNORECASE)}


def assert_slideshow_evidence(clips: Sequence[Clip], truth: dict[str, Any], duration_s: float, *, missing: Sequence[tuple[float, float]] = ()) -> None:
    """Every clip has each sampled frame once and the slide captions it shows; the whole transcript is there.

    `missing` are media ranges whose segment was deliberately lost: no frames or captions from them.
    """
    problems = []
    for clip in clips:
        want = expected_frames(clip.start_s, clip.end_s, duration_s, missing)
        if list(clip.frame_times) != want:
            problems.append(f"[{clip.start_s:g}-{clip.end_s:g}] frames {list(clip.frame_times)}, want {want}")
        slides = {
            i + 1
            for i, s in enumerate(truth["slides"])
            if s["start"] < clip.end_s and s["end"] > clip.start_s
            and not any(a <= s["start"] and s["end"] <= b for a, b in missing)
        }
        if slide_numbers(clip.ocr_text) != slides:
            problems.append(f"[{clip.start_s:g}-{clip.end_s:g}] shows slides {sorted(slide_numbers(clip.ocr_text))}, want {sorted(slides)} (OCR text {clip.ocr_text!r})")
    assert not problems, "clips lack evidence:\n" + "\n".join(problems)


def heard_words(clips: Sequence[Clip]) -> list[Any]:
    """The stream's words, each once (overlapping clips share words)."""
    seen: dict[tuple[float, str], Any] = {}
    for clip in clips:
        for word in clip.words:
            seen.setdefault((round(word.start_s, 2), word.text), word)
    return sorted(seen.values(), key=lambda w: w.start_s)


def utterance_errors(clips: Sequence[Clip], truth: dict[str, Any], *, max_wer: float = 0.25) -> list[str]:
    """Utterances that the stored clips do not hold with at most `max_wer` WER."""
    words = heard_words(clips)
    problems = []
    for utterance in truth["utterances"]:
        heard = " ".join(w.text for w in words if utterance["start"] - 0.3 <= (w.start_s + w.end_s) / 2 <= utterance["end"] + 0.3)
        wer = word_error_rate(utterance["text"], heard)
        if wer > max_wer or not normalize_words(heard):
            problems.append(f"{utterance['start']}-{utterance['end']} s: {utterance['text']!r} stored as {heard!r} (WER {wer:.2f})")
    return problems


def range_word_errors(clips: Sequence[Clip], truth: dict[str, Any], ranges: Sequence[tuple[float, float]], *, max_wer: float = 0.25) -> list[str]:
    """Media ranges whose reference words the stored clips do not hold within `max_wer` (a word is in
    the range where its middle is, on both sides)."""
    words = heard_words(clips)
    problems = []
    for a, b in ranges:
        reference = " ".join(w["word"] for w in truth["words"] if a <= (w["start"] + w["end"]) / 2 < b)
        heard = " ".join(w.text for w in words if a <= (w.start_s + w.end_s) / 2 < b)
        wer = word_error_rate(reference, heard)
        if wer > max_wer:
            problems.append(f"{a:g}-{b:g} s: {reference!r} stored as {heard!r} (WER {wer:.2f})")
    return problems


# --- Kafka ---------------------------------------------------------------------------------------------


def read_dead_letters(config: KafkaConfig, bootstrap_servers: str, dlq_topic: str, stream_id: str | None = None) -> list[DeadLetter]:
    values = asyncio.run(read_topic(config, bootstrap_servers, dlq_topic, idle_s=1.5))
    letters = [decode_dead_letter(value) for _, value in values]
    return [d for d in letters if stream_id is None or d.stream_id == stream_id]


def produce(cluster: Cluster, segments: Sequence[Segment], *, damaged: dict[int, bytes] | None = None) -> list[tuple[int, int, bytes]]:
    """Send segments (the data of `damaged[seq]` in place of theirs) to the segments topic, keyed by stream,
    each acknowledged before the next; returns each one's (partition, offset, message)."""
    damaged = damaged or {}

    async def run() -> list[tuple[int, int, bytes]]:
        producer = await start_producer(cluster.settings.kafka, cluster.bootstrap_servers)
        placed = []
        try:
            for segment in segments:
                value = encode_segment(replace(segment, data=damaged.get(segment.seq, segment.data)), published_at=time.time())
                sent = await (await producer.send(cluster.topics.segments, value, key=segment.stream_id.encode()))
                placed.append((sent.partition, sent.offset, value))
        finally:
            await producer.stop()
        return placed

    return asyncio.run(run())


def partition_of(key: str, partitions: int) -> int:
    """Where the producer puts `key` (the Java client's murmur2 partitioner, which aiokafka uses too)."""
    from aiokafka.partitioner import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def search(query: str, data_dir: Path, *, env: dict[str, str], log: Path) -> list[dict[str, Any]]:
    result = run_cli(["search", query, "--data-dir", str(data_dir), "--json"], env=env, log=log, timeout_s=300)
    assert result.returncode == 0, f"search exited {result.returncode}\n{tail(log)}"
    return json.loads(result.stdout)

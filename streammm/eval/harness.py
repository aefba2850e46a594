"""The retrieval evaluation: index the labelled videos, ask every query under every strategy, score.

Videos are indexed by the real pipeline (`run_up(..., once=True)`, what `streammm up --once` runs), so
the numbers measure what users get, segmenting, alignment and fusion included. Each query is asked
of its own video only (a stream filter, as `streammm search --stream ID` does): labels say where the
answer is in that video, not that no other video could answer it, so searching across videos would
count plausible answers elsewhere as misses. A query labelled `"answerable": false` is asked the same
way and scored by whether any moment reaches `qa.min_relevance` (it should not).

Streams already in the store at `data_dir` are reused, not re-indexed, so a second run against the
same `--data-dir` only asks the queries.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streammm.config import Settings
from streammm.errors import ConfigError, StreammmError
from streammm.eval.metrics import make_no_answer_row, make_row, summarize, summarize_by_modality
from streammm.eval.queries import LabelledQuery
from streammm.models.base import TextEncoder
from streammm.qa.retrieval import STRATEGIES
from streammm.progress import count_progress, polled_media_progress
from streammm.records import ClipFilter
from streammm.stats import PipelineStats

log = logging.getLogger(__name__)
K = 5  # moments asked for per query, as `streammm search` shows by default; R@5 needs five


def with_data_dir(settings: Settings, data_dir: str | Path) -> Settings:
    """`settings` with `store.data_dir` replaced (settings are frozen, so copy the section)."""
    return settings.model_copy(update={"store": settings.store.model_copy(update={"data_dir": str(data_dir)})})


def run_eval(
    settings: Settings,
    queries: Sequence[LabelledQuery],
    *,
    strategies: Sequence[str] = STRATEGIES,
    data_dir: str | Path,
    across_streams: bool = False,
) -> dict[str, Any]:
    """Index the queries' media into `data_dir` (reusing streams already there), then score every
    query under every strategy: asked of its own video, or with `across_streams` of every stream in
    the store (a moment of another video is a miss).

    Returns `{"rows": [...], "summary": {strategy: metrics}, "by_modality": {strategy: {modality:
    metrics}}, "run": {...}}`; see `streammm.eval.metrics` for the row keys and metrics.
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ConfigError(f"unknown strategy {', '.join(unknown) or '(none given)'}; choose from {', '.join(STRATEGIES)}")
    if not queries:
        raise ConfigError("no queries to evaluate")
    settings = with_data_dir(settings, data_dir)
    streams = stream_ids(queries)

    from streammm.models.registry import create_question_encoder

    encoder = create_question_encoder(settings.models)
    started = time.perf_counter()
    not_indexed: dict[str, str] = {}
    status = index_media(settings, streams, encoder.dim, not_indexed=not_indexed)
    ingest_s = time.perf_counter() - started
    if not_indexed:
        queries = [q for q in queries if streams[q.path] not in not_indexed]  # score the rest

    started = time.perf_counter()
    rows = (
        ask_all(settings, queries, streams, strategies, encoder, across_streams=across_streams, min_relevance=settings.qa.min_relevance)
        if queries
        else []
    )
    query_s = time.perf_counter() - started
    log.info("asked %d queries x %d strategies in %.1f s", len(queries), len(strategies), query_s)
    return {
        "rows": rows,
        "summary": summarize(rows),
        "by_modality": summarize_by_modality(rows),
        "run": {
            "k": K,
            "queries": len(queries),
            "strategies": list(strategies),
            "asked_of": "every stream" if across_streams else "its own video",
            "profile": settings.models.embedding.profile,
            "data_dir": str(data_dir),
            "streams": status,
            "not_indexed": not_indexed,
            "ingest_s": round(ingest_s, 1),
            "query_s": round(query_s, 1),
        },
    }


def stream_ids(queries: Sequence[LabelledQuery]) -> dict[Path, str]:
    """The stream id each media file gets (its name without extension, as `up --ingest` names it)."""
    from streammm.ingest.sources import stream_id_for

    ids: dict[Path, str] = {}
    for query in queries:
        if query.path not in ids:
            ids[query.path] = stream_id_for(str(query.path))[1]
    by_id: dict[str, Path] = {}
    for path, sid in ids.items():
        if sid in by_id:
            raise ConfigError(f"{by_id[sid]} and {path} would both be stream {sid!r}; rename one of them")
        by_id[sid] = path
    return ids


def index_media(
    settings: Settings, streams: dict[Path, str], dim: int, *, not_indexed: dict[str, str] | None = None
) -> dict[str, str]:
    """Ingest the media whose stream is not in the store yet; returns {stream id: "reused" | "ingested"}.

    With `not_indexed`, media that cannot be indexed (unreadable, no clips, incomplete clips) is listed
    there, stream id -> reason, and the rest goes on; without it, the first such problem raises."""
    partial = not_indexed is not None
    not_indexed = {} if not_indexed is None else not_indexed
    from streammm.media.probe import check_file, probe
    from streammm.node import run_up

    stored = stored_streams(settings, dim)
    status: dict[str, str] = {}
    inputs: list[tuple[str, str]] = []
    for path, sid in streams.items():
        if sid in stored:
            log.info("reusing stream %s (%d clips up to %.1f s)", sid, stored[sid].clips, stored[sid].end_s)
            duration_s = probe(path, max_file_mb=settings.media.max_file_mb).duration_s
            if stored[sid].end_s + settings.align.window_s < duration_s:
                log.warning(
                    "stream %s is stored only up to %.1f s of %.1f s; its results may be partial", sid, stored[sid].end_s, duration_s
                )
            status[sid] = "reused"
        else:
            try:
                check_file(path, max_file_mb=settings.media.max_file_mb)  # fail before starting the pipeline
            except StreammmError as exc:
                if not partial:
                    raise
                not_indexed[sid] = str(exc)
                status[sid] = "not indexed"
                continue
            inputs.append((str(path), sid))
            status[sid] = "ingested"
    if inputs:
        names = ", ".join(sid for _, sid in inputs)
        print(f"indexing {len(inputs)} video(s) into {settings.store.data_dir}: {names}", file=sys.stderr)
        started = time.perf_counter()
        failures: dict[str, str] = {}
        stats = PipelineStats()
        durations = {sid: _duration_s(path, settings) for path, sid in inputs}

        def done_s() -> float:  # media seconds whose clips are stored, over every input
            return sum(min(duration_s, _stored_s(stats, sid, duration_s)) for sid, duration_s in durations.items())

        with polled_media_progress(sum(durations.values()), desc="indexing", done_s=done_s):
            code = asyncio.run(run_up(settings, inputs, once=True, failures=failures, stats=stats))
        if code != 0 and not partial:
            raise StreammmError("indexing the evaluation media failed (see the log above)")
        print(f"indexed in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        stored = stored_streams(settings, dim)
        missing = [sid for _, sid in inputs if sid not in stored]
        if missing and not partial:
            raise StreammmError(f"indexing stored no clips for {', '.join(missing)}")
        for sid in missing:
            failures.setdefault(sid, "no clips were stored")
        for sid, why in failures.items():
            not_indexed[sid] = why
            status[sid] = "not indexed"
    waiting = incomplete_clips(settings, dim, [sid for sid in status if sid not in not_indexed])
    if waiting and partial:
        for sid, count in waiting.items():
            not_indexed[sid] = f"{count} clips still wait for a modality"
            status[sid] = "not indexed"
    elif waiting:
        listed = ", ".join(f"{sid} ({n} clips)" for sid, n in sorted(waiting.items()))
        raise StreammmError(
            f"the index is incomplete: clips still wait for a modality in {listed}; scores on it would be wrong. "
            "Index these streams again (a new data dir, or streammm up --once on the same inputs)"
        )
    return status


def _duration_s(path: str, settings: Settings) -> float:
    from streammm.media.probe import probe

    try:
        return probe(path, max_file_mb=settings.media.max_file_mb).duration_s or 0.0
    except StreammmError:
        return 0.0  # `up` reports the file; the bar just does not count it


def _stored_s(stats: PipelineStats, sid: str, duration_s: float) -> float:
    progress = stats.streams.get(sid)
    if progress is None:
        return 0.0
    return duration_s if progress.finished else progress.stored_until_s


def incomplete_clips(settings: Settings, dim: int, sids: Sequence[str]) -> dict[str, int]:
    """{stream id: clips that still have pending modalities}, for the streams of `sids` that have any."""
    from streammm.store.factory import open_existing_store

    store = open_existing_store(settings, dim)
    try:
        counts = {sid: store.count(ClipFilter(stream_ids=(sid,), incomplete=True)) for sid in sids}
    finally:
        store.close()
    return {sid: n for sid, n in counts.items() if n}


def stored_streams(settings: Settings, dim: int) -> dict[str, Any]:
    """{stream id: StreamInfo} of the store at settings.store.data_dir ({} when there is no store yet)."""
    from streammm.store.factory import open_existing_store

    if settings.store.backend == "embedded" and not (Path(settings.store.data_dir).expanduser() / "clips").exists():
        return {}
    store = open_existing_store(settings, dim)
    try:
        return {info.stream_id: info for info in store.streams()}
    finally:
        store.close()


def ask_all(
    settings: Settings,
    queries: Sequence[LabelledQuery],
    streams: dict[Path, str],
    strategies: Sequence[str],
    encoder: TextEncoder,
    *,
    across_streams: bool = False,
    min_relevance: float = 0.0,
) -> list[dict[str, Any]]:
    """One row per query and strategy, retrieving exactly as `streammm search --stream ID --k 5` does
    (`streammm search --k 5` with `across_streams`) but with no relevance cut; an unanswerable query's row
    says whether any moment reached `min_relevance` (`make_no_answer_row`)."""
    from streammm.qa.service import QueryService
    from streammm.store.factory import open_existing_store

    rows: list[dict[str, Any]] = []
    store = open_existing_store(settings, encoder.dim)
    service = QueryService(store, encoder)  # the retrieval `search`, `ask` and POST /v1/search use
    try:
        with count_progress(len(queries) * len(strategies), desc="querying", unit="search") as advance:
            for query in queries:
                rows += _ask(service, query, streams, strategies, across_streams, min_relevance)
                advance(len(strategies))
    finally:
        store.close()
    return rows


def _ask(
    service: Any, query: LabelledQuery, streams: dict[Path, str], strategies: Sequence[str], across_streams: bool, min_relevance: float
) -> list[dict[str, Any]]:
    """One query under every strategy: one row each."""
    from streammm.qa.service import SearchRequest

    rows: list[dict[str, Any]] = []
    vector = service.encode(query.text)
    own = streams[query.path]
    for strategy in strategies:
        request = SearchRequest(query.text, streams=None if across_streams else (own,), k=K, strategy=strategy)
        moments = service.moments(request, vector)
        if not query.answerable:
            rows.append(
                make_no_answer_row(
                    query_id=query.id, media=query.media, modality=query.modality, strategy=strategy,
                    relevances=[m.relevance for m in moments if m.stream_id == own], min_relevance=min_relevance,
                )
            )
            continue
        rows.append(
            make_row(
                query_id=query.id, media=query.media, modality=query.modality, strategy=strategy,
                expected=(query.start, query.end), moments=[(m.start_s, m.end_s) for m in moments],
                elsewhere=[m.stream_id != own for m in moments],
            )
        )
    return rows

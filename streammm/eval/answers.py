"""Answers scored against the labels: each query asked through the answerer, as the websocket does, and
its citations judged against the labelled window.

Per query (`score_answer`):

- `cited@1`: 1 when the answer's first citation overlaps the labelled window (citation hit@1);
- `precision`: the share of its citations that overlap the window (0.0 with no citations);
- `first_start_error_s`: |first citation's start - label start| (None with no citation, or when the first
  citation is of another video).

Summary: the means of `cited@1` and `precision` and the median `first_start_error_s`.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from streammm.config import Settings
from streammm.eval.metrics import overlap
from streammm.eval.queries import LabelledQuery
from streammm.models.base import TextEncoder

Span = tuple[float, float]


def score_answer(expected: Span, citations: Sequence[Span], *, elsewhere: Sequence[bool] | None = None) -> dict[str, Any]:
    """The per-query answer metrics of `citations` (in the order their tags appear) against `expected`."""
    start, end = expected
    away = list(elsewhere) if elsewhere is not None else [False] * len(citations)
    good = [not out and overlap(s, e, start, end) > 0 for (s, e), out in zip(citations, away)]
    first_here = bool(citations) and not away[0]
    return {
        "cited@1": int(bool(good) and good[0]),
        "precision": sum(good) / len(good) if good else 0.0,
        "citations": len(citations),
        "first_start_error_s": round(abs(citations[0][0] - start), 3) if first_here else None,
        "first_start_s": citations[0][0] if citations else None,
        "first_end_s": citations[0][1] if citations else None,
    }


def summarize_answers(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    rows = list(rows)
    n = len(rows)
    errors = [r["first_start_error_s"] for r in rows if r["first_start_error_s"] is not None]
    return {
        "cited@1": sum(r["cited@1"] for r in rows) / n if n else 0.0,
        "precision": sum(r["precision"] for r in rows) / n if n else 0.0,
        "median_first_start_error_s": statistics.median(errors) if errors else None,
        "n": n,
    }


def ask_answers(
    settings: Settings,
    queries: Sequence[LabelledQuery],
    streams: Mapping[Path, str],
    encoder: TextEncoder,
    *,
    strategy: str | None = None,
    across_streams: bool = False,
) -> list[dict[str, Any]]:
    """One row per query: its moments retrieved as the websocket `ask` does (qa.strategy, qa.min_relevance,
    the first qa.evidence_moments handed to the configured answerer) and its citations scored."""
    from streammm.qa.answer import Done, keep_cited_evidence
    from streammm.qa.service import QueryService, SearchRequest
    from streammm.qa.vectors import remembering
    from streammm.server.answerers import make_answerer
    from streammm.store.factory import open_existing_store

    strategy = strategy or settings.qa.strategy
    vectors = remembering(encoder)
    store = open_existing_store(settings, encoder.dim)
    service = QueryService(store, vectors, min_relevance=settings.qa.min_relevance)
    answerer = make_answerer(settings, vectors, None)

    async def answer(question: str, moments: Sequence[Any]) -> Done:
        done: Done | None = None
        async for event in answerer.answer(question, moments[: settings.qa.evidence_moments]):
            if isinstance(event, Done):
                done = keep_cited_evidence(event, moments)
        assert done is not None, "an answerer ends with Done"
        return done

    rows: list[dict[str, Any]] = []
    try:
        for query in queries:
            own = streams[query.path]
            request = SearchRequest(query.text, streams=None if across_streams else (own,), k=5, strategy=strategy)
            moments = service.moments(request)
            done = asyncio.run(answer(query.text, moments))
            row = {"query_id": query.id, "media": query.media, "modality": query.modality, "strategy": strategy}
            row.update(
                score_answer(
                    (query.start, query.end), [(c.start_s, c.end_s) for c in done.citations],
                    elsewhere=[c.stream_id != own for c in done.citations],
                )
            )
            row["answer"] = done.text
            rows.append(row)
    finally:
        store.close()
    return rows


def format_answers(summary: Mapping[str, Any]) -> str:
    err = summary["median_first_start_error_s"]
    return (
        f"answers ({summary['n']} queries): citation hit@1 {summary['cited@1']:.2f}, citation precision "
        f"{summary['precision']:.2f}, median first-citation start error {'-' if err is None else f'{err:.2f} s'}"
    )


def evaluate_answers(
    settings: Settings,
    queries: Sequence[LabelledQuery],
    *,
    data_dir: str | Path,
    not_indexed: Mapping[str, str] | None = None,
    across_streams: bool = False,
) -> dict[str, Any]:
    """`streammm eval --answers`: every query whose video is indexed in `data_dir`, through the answerer.
    Returns {"rows": [...], "summary": {...}, "strategy": ...}."""
    from streammm.eval.harness import stream_ids, with_data_dir
    from streammm.models.registry import create_question_encoder

    settings = with_data_dir(settings, data_dir)
    streams = stream_ids(queries)
    skipped = set(not_indexed or ())
    asked = [q for q in queries if q.answerable and streams[q.path] not in skipped]  # unanswerable: no window to cite
    encoder = create_question_encoder(settings.models)
    rows = ask_answers(settings, asked, streams, encoder, across_streams=across_streams) if asked else []
    return {"rows": rows, "summary": summarize_answers(rows), "strategy": settings.qa.strategy, "answerer": settings.qa.answerer}

"""Moment-retrieval metrics: how well a ranked list of moments finds a labelled time window.

Pure functions over seconds and plain dicts (no I/O, no models), so the scoring rules can be tested
by hand and the rows written as JSON as they are.

A returned moment *finds* the expected window when the two overlap by more than zero seconds. Moments
are merged clips (4 s windows, so 4-12 s long) while labels can be a fraction of a second, so a
looser test than IoU is needed to count a hit; IoU and the start error are reported beside it to
show how tightly the top moment brackets the window.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

RECALL_AT = 5
ROW_KEYS = (
    "query_id", "media", "modality", "strategy", "hit@1", "rank", "r@5", "iou", "start_error_s", "top_start_s", "top_end_s"
)
Span = tuple[float, float]


def overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    """Seconds shared by [a_start, a_end] and [b_start, b_end]; 0.0 when they are disjoint or only touch."""
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def iou(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    """Intersection over union of two time spans (0.0 for two empty spans)."""
    shared = overlap(a_start, a_end, b_start, b_end)
    union = (a_end - a_start) + (b_end - b_start) - shared
    return shared / union if union > 0 else 0.0


def score_moments(expected: Span, moments: Sequence[Span], *, elsewhere: Sequence[bool] | None = None) -> dict[str, Any]:
    """The per-query metrics of `moments` (ranked best first) against the `expected` window.

    `elsewhere[i]` marks a moment of another video than the expected one (when a query is asked of
    every stream): it never finds the window, and as the top moment it scores IoU 0 and no start error.

    - `rank`: 1-based rank of the first moment that overlaps the window, None when none does;
    - `hit@1`: 1 when that rank is 1, else 0; `r@5`: 1 when the rank is at most 5, else 0;
    - `iou`: IoU of the top moment with the window (0.0 with no moments);
    - `start_error_s`: |top start - expected start| in seconds, to the ms (None with no moments);
    - `top_start_s`, `top_end_s`: the top moment (None with no moments).
    """
    start, end = expected
    away = list(elsewhere) if elsewhere is not None else [False] * len(moments)
    rank = next((i for i, ((s, e), out) in enumerate(zip(moments, away), start=1) if not out and overlap(s, e, start, end) > 0), None)
    top = moments[0] if moments else None
    here = top is not None and not away[0]
    return {
        "hit@1": int(rank == 1),
        "rank": rank,
        "r@5": int(rank is not None and rank <= RECALL_AT),
        "iou": iou(top[0], top[1], start, end) if here else 0.0,
        "start_error_s": round(abs(top[0] - start), 3) if here else None,  # media times are in ms
        "top_start_s": top[0] if top else None,
        "top_end_s": top[1] if top else None,
    }


def make_row(
    *, query_id: str, media: str, modality: str, strategy: str, expected: Span, moments: Sequence[Span],
    elsewhere: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """One result row (the keys of ROW_KEYS, in that order)."""
    row = {"query_id": query_id, "media": media, "modality": modality, "strategy": strategy}
    row.update(score_moments(expected, moments, elsewhere=elsewhere))
    return row


def aggregate(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Means of hit@1, R@5 and IoU, the median start error over rows that returned something, and n.

    A query that returned nothing counts as a miss with IoU 0; the median start error is None when
    no row returned a moment.
    """
    rows = list(rows)
    n = len(rows)
    errors = [r["start_error_s"] for r in rows if r["start_error_s"] is not None]
    return {
        "hit@1": sum(r["hit@1"] for r in rows) / n if n else 0.0,
        "r@5": sum(_recall(r) for r in rows) / n if n else 0.0,
        "iou": sum(r["iou"] for r in rows) / n if n else 0.0,
        "median_start_error_s": statistics.median(errors) if errors else None,
        "n": n,
    }


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per strategy (in order of first appearance): the `aggregate` of its rows."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["strategy"], []).append(row)
    return {strategy: aggregate(members) for strategy, members in groups.items()}


def summarize_by_modality(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per strategy, then per query modality (sorted by name): the `aggregate` of those rows."""
    groups: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in rows:
        groups.setdefault(row["strategy"], {}).setdefault(row["modality"], []).append(row)
    return {
        strategy: {modality: aggregate(by_modality[modality]) for modality in sorted(by_modality)}
        for strategy, by_modality in groups.items()
    }


def _recall(row: Mapping[str, Any]) -> int:
    """R@5 of a row, from `r@5` when present (rows may omit it), else from `rank`."""
    if "r@5" in row:
        return int(row["r@5"])
    return int(row["rank"] is not None and row["rank"] <= RECALL_AT)

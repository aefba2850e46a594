"""Moment-retrieval metrics: how well a ranked list of moments finds a labelled time window.

Pure functions over seconds and plain dicts (no I/O, no models), so the scoring rules can be tested
by hand and the rows written as JSON as they are.

A returned moment *finds* the expected window when the two overlap by more than zero seconds (hit@1,
R@5). Beside that loose test come the moment-retrieval field's own (Charades-STA, QVHighlights):
R1@0.3/0.5/0.7 (the top moment's IoU reaches the threshold), mean IoU of the top moment, and
mAP@[0.5:0.95] over the top 5 (QVHighlights' average precision, averaged over IoU thresholds 0.5,
0.55, ..., 0.95). docs/eval.md defines each one.

A query labelled `"answerable": false` (its video does not contain the answer) has no window: its row
(`make_no_answer_row`) says whether any moment reached `qa.min_relevance`, and the summary gives, per
strategy, the no-answer accuracy (the share of such queries for which none did). These rows are left out of
every window metric above, and the summary has the no-answer keys only when such rows exist.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

RECALL_AT = 5
R1_AT = (0.3, 0.5, 0.7)  # IoU thresholds of R1@t
MAP_AT = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.5, 0.55, ..., 0.95 (QVHighlights)
R1_KEYS = tuple(f"r1@{t}" for t in R1_AT)
ROW_KEYS = (
    "query_id", "media", "modality", "strategy", "hit@1", "rank", "r@5", "iou", "start_error_s", "top_start_s", "top_end_s",
    *R1_KEYS, "ap", "top_width_s", "label_width_s",
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
    - `top_start_s`, `top_end_s`: the top moment (None with no moments);
    - `r1@0.3`, `r1@0.5`, `r1@0.7`: 1 when the top moment's IoU with the window is at least 0.3, 0.5, 0.7;
    - `ap`: average precision of the top RECALL_AT moments averaged over the IoU thresholds of MAP_AT
      (`average_precision`);
    - `top_width_s`, `label_width_s`: how long the top moment (None with none) and the window are.
    """
    start, end = expected
    away = list(elsewhere) if elsewhere is not None else [False] * len(moments)
    rank = next((i for i, ((s, e), out) in enumerate(zip(moments, away), start=1) if not out and overlap(s, e, start, end) > 0), None)
    top = moments[0] if moments else None
    here = top is not None and not away[0]
    top_iou = iou(top[0], top[1], start, end) if here else 0.0
    return {
        "hit@1": int(rank == 1),
        "rank": rank,
        "r@5": int(rank is not None and rank <= RECALL_AT),
        "iou": top_iou,
        "start_error_s": round(abs(top[0] - start), 3) if here else None,  # media times are in ms
        "top_start_s": top[0] if top else None,
        "top_end_s": top[1] if top else None,
        **{key: int(top_iou >= t - 1e-9) for key, t in zip(R1_KEYS, R1_AT)},
        "ap": average_precision(expected, moments[:RECALL_AT], elsewhere=away[:RECALL_AT]),
        "top_width_s": round(top[1] - top[0], 3) if top else None,
        "label_width_s": round(end - start, 3),
    }


def average_precision(
    expected: Span, moments: Sequence[Span], *, elsewhere: Sequence[bool] | None = None, thresholds: Sequence[float] = MAP_AT
) -> float:
    """Average precision of ranked `moments` against one labelled window, averaged over IoU `thresholds`.

    At one threshold a moment is a true positive when its IoU with the window reaches it and the window
    has not been matched by a better-ranked moment (one window, so one match; the rest are false
    positives), as in the QVHighlights / ActivityNet detection AP. With one window the AP is then
    1 / (rank of the first moment that reaches the threshold), or 0 when none does.
    """
    away = list(elsewhere) if elsewhere is not None else [False] * len(moments)
    ious = [0.0 if out else iou(s, e, *expected) for (s, e), out in zip(moments, away)]
    total = 0.0
    for t in thresholds:
        rank = next((i for i, value in enumerate(ious, start=1) if value >= t - 1e-9), None)
        total += 1.0 / rank if rank else 0.0
    return total / len(thresholds) if thresholds else 0.0


def make_row(
    *, query_id: str, media: str, modality: str, strategy: str, expected: Span, moments: Sequence[Span],
    elsewhere: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """One result row (the keys of ROW_KEYS, in that order)."""
    row = {"query_id": query_id, "media": media, "modality": modality, "strategy": strategy}
    row.update(score_moments(expected, moments, elsewhere=elsewhere))
    return row


def make_no_answer_row(
    *, query_id: str, media: str, modality: str, strategy: str, relevances: Sequence[float], min_relevance: float
) -> dict[str, Any]:
    """The row of an unanswerable query: `relevances` are those of its moments (best first, no cut applied).

    `answered` counts the moments at least `min_relevance` relevant (what `search` would show);
    `no_answer` is 1 when there are none, i.e. retrieval correctly returns nothing."""
    answered = sum(1 for r in relevances if r >= min_relevance)
    return {
        "query_id": query_id, "media": media, "modality": modality, "strategy": strategy, "answerable": False,
        "no_answer": int(answered == 0), "answered": answered,
        "top_relevance": round(max(relevances), 4) if relevances else None, "min_relevance": min_relevance,
    }


def is_unanswerable(row: Mapping[str, Any]) -> bool:
    return row.get("answerable", True) is False


def aggregate(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Means of hit@1, R@5, IoU (mIoU), R1@0.3/0.5/0.7 and AP (mAP@[0.5:0.95]), the median start error
    over rows that returned something, the median ratio of top-moment width to label width, and n.

    A query that returned nothing counts as a miss with IoU 0; the medians are None when no row returned
    a moment. Rows written before the R1/AP keys existed are scored from their `iou` (R1) or count 0 (AP).
    """
    rows = list(rows)
    n = len(rows)
    errors = [r["start_error_s"] for r in rows if r["start_error_s"] is not None]
    ratios = [
        r["top_width_s"] / r["label_width_s"] for r in rows if r.get("top_width_s") is not None and r.get("label_width_s")
    ]
    return {
        "hit@1": sum(r["hit@1"] for r in rows) / n if n else 0.0,
        "r@5": sum(_recall(r) for r in rows) / n if n else 0.0,
        "iou": sum(r["iou"] for r in rows) / n if n else 0.0,
        **{key: sum(_r1(r, key, t) for r in rows) / n if n else 0.0 for key, t in zip(R1_KEYS, R1_AT)},
        "map": sum(r.get("ap", 0.0) for r in rows) / n if n else 0.0,
        "median_start_error_s": statistics.median(errors) if errors else None,
        "median_width_ratio": round(statistics.median(ratios), 3) if ratios else None,
        "n": n,
    }


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per strategy (in order of first appearance): the `aggregate` of its answerable rows, plus, when it
    has unanswerable rows, `no_answer` (their no-answer accuracy) and `n_unanswerable`."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["strategy"], []).append(row)
    summary: dict[str, dict[str, Any]] = {}
    for strategy, members in groups.items():
        summary[strategy] = aggregate(r for r in members if not is_unanswerable(r))
        unanswerable = [r for r in members if is_unanswerable(r)]
        if unanswerable:
            summary[strategy]["no_answer"] = sum(r["no_answer"] for r in unanswerable) / len(unanswerable)
            summary[strategy]["n_unanswerable"] = len(unanswerable)
    return summary


def summarize_by_modality(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per strategy, then per query modality (sorted by name): the `aggregate` of those rows (answerable only)."""
    groups: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in rows:
        if is_unanswerable(row):
            continue
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


def _r1(row: Mapping[str, Any], key: str, threshold: float) -> int:
    return int(row[key]) if key in row else int(row["iou"] >= threshold - 1e-9)

"""Visual moments: the span of a retrieved group that its pictures answer for.

- **frames**: a clip keeps each sampled frame's vector and the times shots start, so the span is the run
  of frames around the one that matches the query best, while their match stays near it, cut at shot
  changes;
- **grid**: where the frames do not single out a run (clips of older stores, which kept no frame vectors,
  or pictures that match as well elsewhere), the stretch of the clip grid where the retrieved clips'
  relevance stays near its best, as fine as the clip stride and no finer.

Pure functions of the query vector and the clips; no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streammm.media.shots import change_time
from streammm.records import Clip

FRAME_NEAR = 0.5  # a run keeps frames within this share of the best frame's lead over the worst
FRAME_RIVAL = 0.35  # a frame outside the run this close to the best makes the pictures ambiguous
FRAME_LEAD = 0.05  # the best frame must lead the worst by this cosine to single out a run
CELL_RATIO = 0.9  # grid cells within this share of the best cell's relevance


@dataclass(frozen=True, eq=False)
class SampledFrame:
    t_s: float
    vector: np.ndarray
    shot_start_s: float | None = None  # where a new shot starts at this frame: when it started (at or before t_s)

    @property
    def shot_start(self) -> bool:
        return self.shot_start_s is not None


def distinct_frames(clips: Iterable[Clip]) -> list[SampledFrame]:
    """Each sampled frame of `clips` that kept its vector, once (clips overlap), in time order. A frame
    starts a shot where one of its clip's shot_times is after the frame before it and not after it (the
    decoded frame a cut was found at, or the sampled frame itself in stores made before that)."""
    seen: dict[float, SampledFrame] = {}
    for clip in clips:
        if clip.frame_vectors is None or len(clip.frame_vectors) != len(clip.frame_times):
            continue
        times = [round(t, 3) for t in clip.frame_times]
        starts: dict[float, float] = {}
        for shot in clip.shot_times:
            at = bisect.bisect_left(times, round(shot, 3))  # the first frame at or after the shot's start
            if at < len(times):
                starts.setdefault(times[at], shot)
        for key, t, vector in zip(times, clip.frame_times, clip.frame_vectors):
            if key not in seen:
                seen[key] = SampledFrame(t, vector, starts.get(key))
    return [seen[k] for k in sorted(seen)]


def fit_frames(
    query_vector: np.ndarray | None, frames: Sequence[SampledFrame], span: tuple[float, float], around: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    """The run of `frames` around the one that matches `query_vector` best, while their cosine stays within
    FRAME_NEAR of its lead over the worst frame, never across a shot change: from the change before its
    first frame to the change after its last (halfway to the frames around it, or at a cut; the end of
    `span` after the last frame known).

    None where the pictures do not single out a run: fewer than two frames, a lead under FRAME_LEAD, or a
    frame outside the run but within `around` (the moment's own clips; default: anywhere) within
    FRAME_RIVAL of the lead of the best (as good elsewhere in the moment). A frame as good in another
    part of the video is another moment's, and does not blur this one."""
    if query_vector is None or len(frames) < 2:
        return None
    matrix = np.asarray([f.vector for f in frames], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(query_vector))
    scores = (matrix @ np.asarray(query_vector, dtype=np.float32)) / np.where(norms > 0, norms, 1.0)
    best = int(np.argmax(scores))
    lead = float(scores[best] - scores.min())
    if lead < FRAME_LEAD:
        return None
    floor = scores[best] - FRAME_NEAR * lead
    first = last = best
    while first > 0 and not frames[first].shot_start and scores[first - 1] >= floor:
        first -= 1
    while last + 1 < len(frames) and not frames[last + 1].shot_start and scores[last + 1] >= floor:
        last += 1
    rival = scores[best] - FRAME_RIVAL * lead
    lo, hi = around or (-np.inf, np.inf)
    if any(score >= rival and lo <= frames[i].t_s < hi for i, score in enumerate(scores) if not first <= i <= last):
        return None
    start = _edge(frames[first - 1] if first > 0 else None, frames[first])
    end = _edge(frames[last], frames[last + 1]) if last + 1 < len(frames) else span[1]
    start, end = max(start, span[0]), min(end, span[1])
    return (start, end) if end > start else None


def _edge(before: SampledFrame | None, after: SampledFrame) -> float:
    """When what `after` shows came (or what `before` showed went): where a shot starts at `after`, when it
    started; else halfway between them (change_time)."""
    if after.shot_start_s is not None:
        return after.shot_start_s
    return change_time(before.t_s if before is not None else None, after.t_s, cut=False)


def fit_grid(clips: Sequence[Clip], span: tuple[float, float], relevance: Mapping[str, float]) -> tuple[float, float]:
    """The stretch of the clips' grid where relevance stays near its best: each cell between clip edges
    scores the mean relevance of the clips that could cover it (a clip not retrieved counts 0)."""
    edges = sorted({t for c in clips for t in (c.start_s, c.end_s)})
    if len(edges) <= 2:
        return span
    window = max(c.end_s - c.start_s for c in clips)
    cells = []
    for lo, hi in zip(edges, edges[1:]):
        covering = [relevance[c.clip_id] for c in clips if c.start_s <= lo and c.end_s >= hi]
        possible = max(1, round(window / (hi - lo))) if hi > lo else 1
        cells.append((lo, hi, sum(covering) / max(possible, len(covering))))
    best_i = max(range(len(cells)), key=lambda i: cells[i][2])
    floor = cells[best_i][2] * CELL_RATIO
    first = last = best_i
    while first > 0 and cells[first - 1][2] >= floor:
        first -= 1
    while last < len(cells) - 1 and cells[last + 1][2] >= floor:
        last += 1
    return cells[first][0], cells[last][1]

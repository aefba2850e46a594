"""Align stage: per-stream observations of every modality into fixed windows (default 4 s, stride 2 s).

Each modality reports up to a watermark (media time it is final for). A window is emitted once every
modality's watermark has passed its end, the modality has ended, or its worker has said nothing about
any stream for `modality_timeout_s` (wall time) while another modality got past the window. A worker
that is merely busy with other streams is not silent. Windows start on the
stride grid from the stream's first instant; the last one is the first that reaches the stream's end.
A report for a media range replaces what an earlier report said about that range (a restarted worker
re-reports), so at-least-once delivery never duplicates evidence.

A window emitted on a timeout is remembered with the modalities it lacked, and its evidence is kept:
when a late modality then reports past the window's end (it was busy, not dead), the window is emitted
again, complete, under the same clip id. After `lateness_s` of wall time it is given up as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from streammm.config import AlignConfig
from streammm.records import MODALITIES, FrameObservation, Observation, OcrLine, Word
from streammm.stages.ocr import line_key

DONE = math.inf


@dataclass(frozen=True, eq=False)
class Window:
    stream_id: str
    start_s: float
    end_s: float
    frames: tuple[FrameObservation, ...]
    thumbnail: bytes | None
    words: tuple[Word, ...]
    ocr: tuple[OcrLine, ...]
    published_at: float  # when the newest evidence's segment was published (for freshness)


@dataclass(frozen=True)
class Incomplete:
    start_s: float
    end_s: float
    missing: frozenset[str]
    emitted_at: float  # wall time


@dataclass(frozen=True, eq=False)
class AlignState:
    stream_id: str
    created_at: float
    next_start_s: float | None = None
    end_s: float | None = None
    watermarks: dict[str, float] = field(default_factory=dict)
    ended: frozenset[str] = frozenset()
    frames: tuple[tuple[FrameObservation, bytes | None], ...] = ()
    words: tuple[Word, ...] = ()
    ocr: tuple[OcrLine, ...] = ()
    published: tuple[tuple[float, float, float], ...] = ()  # (range start_s, end_s, published_at)
    incomplete: tuple[Incomplete, ...] = ()  # windows emitted on a timeout, waiting for late evidence

    @property
    def finished(self) -> bool:
        """Every window is emitted and none still waits for a late modality."""
        return self.next_start_s == DONE and not self.incomplete



def observe(state: AlignState, obs: Observation, options: AlignConfig) -> AlignState:
    """Take one modality's report into the stream's state."""
    m = obs.modality
    start, end = obs.start_s, obs.end_s
    next_start = state.next_start_s
    on_grid = math.ceil(round(start / options.stride_s, 6)) * options.stride_s
    if next_start is None:
        # A restarted aligner sees reports from its last commit on; windows before them were stored.
        next_start = on_grid
    elif m not in state.watermarks and next_start != DONE and on_grid > next_start:
        # Each modality resumes at its own commit, and every one of them is at or before the first
        # window not yet stored. Windows before the latest resume point were stored with evidence whose
        # reports are committed now; emitting them again would overwrite complete clips with less.
        next_start = on_grid
    frames, words, ocr = state.frames, state.words, state.ocr
    if m == "visual":
        thumbs = obs.thumbnails if len(obs.thumbnails) == len(obs.frames) else (None,) * len(obs.frames)
        kept = tuple(f for f in frames if not start <= f[0].t_s < end)
        frames = tuple(sorted(kept + tuple(zip(obs.frames, thumbs)), key=lambda f: f[0].t_s))
    elif m == "speech":
        kept_words = tuple(w for w in words if not start <= _middle(w) < end)
        words = tuple(sorted(kept_words + obs.words, key=lambda w: w.start_s))
    elif m == "ocr":
        ocr = _merge_spans(ocr, obs.ocr)
    return replace(
        state,
        next_start_s=next_start,
        end_s=max(state.end_s or 0.0, end) if obs.last else state.end_s,
        watermarks={**state.watermarks, m: max(state.watermarks.get(m, -math.inf), end)},
        ended=state.ended | {m} if obs.last else state.ended,
        frames=frames,
        words=words,
        ocr=ocr,
        published=state.published + ((start, end, obs.published_at),) if obs.published_at else state.published,
    )


def ready_windows(
    state: AlignState, now: float, options: AlignConfig, last_heard: dict[str, float] | None = None
) -> tuple[AlignState, list[Window]]:
    """Emit every window whose evidence is complete (or timed out); drop evidence no window needs.

    `last_heard` is when each modality last reported on any stream (wall time).
    """
    last_heard = last_heard or {}
    windows: list[Window] = []
    incomplete: list[Incomplete] = []
    for waiting in state.incomplete:  # late evidence first: it completes windows emitted on a timeout
        missing = frozenset(m for m in waiting.missing if not _reported(state, m, waiting.end_s))
        if missing != waiting.missing:
            windows.append(_window(state, waiting.start_s, waiting.end_s, _is_last(state, waiting.start_s, options)))
        if missing and now - waiting.emitted_at < options.lateness_s:
            incomplete.append(replace(waiting, missing=missing))
    start = state.next_start_s
    while start is not None and start != DONE and (state.end_s is None or start < state.end_s or start == 0.0):
        end = start + options.window_s
        clipped = min(end, state.end_s) if state.end_s is not None else end
        if not all(_caught_up(state, m, clipped, now, options, last_heard) for m in MODALITIES):
            break
        is_last = _is_last(state, start, options)
        windows.append(_window(state, start, clipped, is_last))
        missing = frozenset(m for m in MODALITIES if not _reported(state, m, clipped))
        if missing:
            incomplete.append(Incomplete(round(start, 3), round(clipped, 3), missing, now))
        start = DONE if is_last else round(start + options.stride_s, 6)
    if state.end_s is not None and start is not None and start != DONE and start >= state.end_s:
        start = DONE
    keep_from = start if start is not None else -math.inf
    if incomplete:
        keep_from = min(keep_from, *(w.start_s for w in incomplete))
    return (
        replace(
            state,
            next_start_s=start,
            incomplete=tuple(incomplete),
            frames=tuple(f for f in state.frames if f[0].t_s >= keep_from),
            words=tuple(w for w in state.words if _middle(w) >= keep_from),
            ocr=tuple(o for o in state.ocr if o.end_s > keep_from),
            published=tuple(p for p in state.published if p[1] > keep_from),
        ),
        windows,
    )


def _is_last(state: AlignState, start: float, options: AlignConfig) -> bool:
    return state.end_s is not None and start + options.window_s >= state.end_s


def _reported(state: AlignState, modality: str, until_s: float) -> bool:
    return modality in state.ended or state.watermarks.get(modality, -math.inf) >= until_s - 1e-6


def _caught_up(
    state: AlignState, modality: str, until_s: float, now: float, options: AlignConfig, last_heard: dict[str, float]
) -> bool:
    if _reported(state, modality, until_s):
        return True
    silent_since = max(last_heard.get(modality, state.created_at), state.created_at)
    others_past = any(w >= until_s for m, w in state.watermarks.items() if m != modality)
    return others_past and now - silent_since > options.modality_timeout_s


def _window(state: AlignState, start: float, end: float, is_last: bool) -> Window:
    inside = [f for f in state.frames if start <= f[0].t_s < end or (is_last and f[0].t_s == end)]
    middle = (start + end) / 2
    with_thumb = [f for f in inside if f[1]]
    thumbnail = min(with_thumb, key=lambda f: abs(f[0].t_s - middle))[1] if with_thumb else None
    published = [p for s, e, p in state.published if s < end and e > start]
    return Window(
        stream_id=state.stream_id,
        start_s=round(start, 3),
        end_s=round(end, 3),
        frames=tuple(f[0] for f in inside),
        thumbnail=thumbnail,
        words=tuple(w for w in state.words if start <= _middle(w) < end or (is_last and _middle(w) >= start)),
        ocr=tuple(o for o in state.ocr if o.start_s < end and o.end_s > start),
        published_at=max(published) if published else 0.0,
    )


def _merge_spans(existing: tuple[OcrLine, ...], incoming: tuple[OcrLine, ...]) -> tuple[OcrLine, ...]:
    """The same line in the same place reported again (still open, or re-read after a restart) extends one span."""
    spans = list(existing)
    for new in incoming:
        key = line_key(new.text)
        for i, old in enumerate(spans):
            if line_key(old.text) == key and old.same_place(new) and new.start_s <= old.end_s and new.end_s >= old.start_s:
                spans[i] = replace(old, start_s=min(old.start_s, new.start_s), end_s=max(old.end_s, new.end_s), score=max(old.score, new.score))
                break
        else:
            spans.append(new)
    return tuple(sorted(spans, key=lambda o: (o.start_s, o.text)))


def _middle(word: Word) -> float:
    return (word.start_s + word.end_s) / 2
